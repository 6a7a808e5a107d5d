package issuer_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"shedgate/loadtest/issuer"
)

func ExampleValidID() {
	fmt.Println(issuer.ValidID([]byte("11010519491231002X")))
	fmt.Println(issuer.ValidID([]byte("110105194912310021")))
	fmt.Println(issuer.ValidID([]byte("1101051949")))
	// Output:
	// <nil>
	// invalid resident id: wrong check digit
	// invalid resident id: length 10, want 18
}

func ExampleMakeID() {
	rng := rand.New(rand.NewPCG(1, 2))
	id := issuer.MakeID(rng, time.Date(2015, 3, 7, 0, 0, 0, 0, time.UTC))
	fmt.Println(len(id), id[6:14], issuer.ValidID([]byte(id)))
	// Output: 18 20150307 <nil>
}

func ExampleCheckDigit() {
	fmt.Printf("%c\n", issuer.CheckDigit([]byte("11010519491231002")))
	// Output: X
}
