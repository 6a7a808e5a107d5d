package residentid_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"shedgate/residentid"
)

func ExampleValidAt() {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	fmt.Println(residentid.ValidAt([]byte("11010519491231002X"), now))
	fmt.Println(residentid.ValidAt([]byte("110105194912310021"), now))
	fmt.Println(residentid.ValidAt([]byte("1101051949"), now))
	// Output:
	// <nil>
	// invalid resident id: wrong check digit
	// invalid resident id: length 10, want 18
}

func ExampleMake() {
	rng := rand.New(rand.NewPCG(1, 2))
	id := residentid.Make(rng, time.Date(2015, 3, 7, 0, 0, 0, 0, time.UTC))
	fmt.Println(len(id), id[6:14], residentid.ValidAt([]byte(id), time.Now()))
	// Output: 18 20150307 <nil>
}

func ExampleCheckDigit() {
	fmt.Printf("%c\n", residentid.CheckDigit([]byte("11010519491231002")))
	// Output: X
}
