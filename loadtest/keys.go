package loadtest

import (
	"math/rand/v2"
	"strconv"
	"time"

	"shedgate/residentid"
)

// Key distributions.
const (
	distZipf = iota
	distUniform
	distSequential
)

// Key formats.
const (
	formatNumber = iota
	formatResidentID
)

// Limits of key generators.
const (
	maxPopulation = 1_000_000_000_000
	maxAge        = 110
)

// keyGen is a compiled Key: immutable, safe for concurrent use. Drawing an
// index needs a keyDraw (one per run, owned by the dispatcher); rendering
// an index into a key is safe from any goroutine.
type keyGen struct {
	dist           int
	population     int64
	s, v           float64
	format         int
	prefix         string
	seed           uint64
	minAge, maxAge int
}

// compileKey validates k and returns its generator; problems are reported
// under key.
func compileKey(k Key, key string, report reportFunc) *keyGen {
	g := &keyGen{population: k.Population, s: k.S, v: k.V, prefix: k.Prefix, seed: uint64(k.Seed)}
	switch k.Kind {
	case "zipf":
		g.dist = distZipf
	case "uniform":
		g.dist = distUniform
	case "sequential":
		g.dist = distSequential
	case "resident_id":
		g.dist, g.format = distUniform, formatResidentID
	case "":
		report(key+".kind", "required: zipf, uniform, sequential or resident_id")
	default:
		report(key+".kind", "unknown kind %q (want zipf, uniform, sequential or resident_id)", k.Kind)
	}
	if k.Population < 1 || k.Population > maxPopulation {
		report(key+".population", "must be 1 to 10^12, got %d", k.Population)
	}
	g.compileZipf(k, key, report)
	switch k.Format {
	case "":
	case "number":
		if k.Kind == "resident_id" {
			report(key+".format", "kind resident_id always has format resident_id")
		}
	case "resident_id":
		g.format = formatResidentID
	default:
		report(key+".format", "unknown format %q (want number or resident_id)", k.Format)
	}
	g.compileAges(k, key, report)
	return g
}

// compileZipf applies and checks the zipf parameters.
func (g *keyGen) compileZipf(k Key, key string, report reportFunc) {
	if g.s == 0 {
		g.s = 1.1
	}
	if g.v == 0 {
		g.v = 1
	}
	if k.Kind != "zipf" {
		if k.S != 0 || k.V != 0 {
			report(key, "s and v apply to kind zipf only")
		}
		return
	}
	if !(g.s > 1) || g.s > 100 {
		report(key+".s", "must be more than 1 (and at most 100), got %v", k.S)
	}
	if !(g.v >= 1) || g.v > 1e12 {
		report(key+".v", "must be at least 1, got %v", k.V)
	}
}

// compileAges applies and checks the age bounds of resident IDs.
func (g *keyGen) compileAges(k Key, key string, report reportFunc) {
	g.minAge, g.maxAge = 0, 99
	if k.MinAge != nil {
		g.minAge = *k.MinAge
	}
	if k.MaxAge != nil {
		g.maxAge = *k.MaxAge
	}
	if g.format != formatResidentID {
		if k.MinAge != nil || k.MaxAge != nil {
			report(key, "min_age and max_age apply to resident IDs only")
		}
		return
	}
	if k.Prefix != "" {
		report(key+".prefix", "applies to format number only")
	}
	switch {
	case g.minAge < 0 || g.minAge > maxAge:
		report(key+".min_age", "must be 0 to %d, got %d", maxAge, g.minAge)
	case g.maxAge < 0 || g.maxAge > maxAge:
		report(key+".max_age", "must be 0 to %d, got %d", maxAge, g.maxAge)
	case g.minAge > g.maxAge:
		report(key+".max_age", "must not be below min_age (%d), got %d", g.minAge, g.maxAge)
	}
}

// withPopulation returns a copy of g drawing among the first n indices.
func (g *keyGen) withPopulation(n int64) *keyGen {
	c := *g
	c.population = n
	return &c
}

// keyDraw draws indices of one generator for one run. It is not safe for
// concurrent use: the dispatcher owns it.
type keyDraw struct {
	g    *keyGen
	rng  *rand.Rand
	zipf *rand.Zipf
	next int64 // sequential
}

// newKeyDraw returns a drawer of g's indices using rng.
func newKeyDraw(g *keyGen, rng *rand.Rand) *keyDraw {
	d := &keyDraw{g: g, rng: rng}
	if g.dist == distZipf && g.population > 1 {
		d.zipf = rand.NewZipf(rng, g.s, g.v, uint64(g.population-1))
	}
	return d
}

// draw returns the next index, 0 to population-1.
func (d *keyDraw) draw() int64 {
	switch {
	case d.g.population <= 1:
		return 0
	case d.zipf != nil:
		return int64(d.zipf.Uint64())
	case d.g.dist == distSequential:
		i := d.next
		if d.next++; d.next >= d.g.population {
			d.next = 0
		}
		return i
	}
	return d.rng.Int64N(d.g.population)
}

// appendKey appends the key of index i to dst. today is the current UTC
// date, which resident IDs' ages are counted from. It is safe for
// concurrent use.
func (g *keyGen) appendKey(dst []byte, i int64, today time.Time) []byte {
	if g.format == formatNumber {
		dst = append(dst, g.prefix...)
		return strconv.AppendInt(dst, i, 10)
	}
	return append(dst, residentID(g.seed, i, g.minAge, g.maxAge, today)...)
}

// residentID returns the resident ID of person i of population seed: a
// valid ID (region, birth date, sequence, check digit) whose holder is
// minAge to maxAge years old on today, the same for the same arguments.
func residentID(seed uint64, i int64, minAge, maxAge int, today time.Time) string {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	age := minAge + rng.IntN(maxAge-minAge+1)
	birth := today.AddDate(-age, 0, -rng.IntN(365))
	return residentid.Make(rng, birth)
}

// utcDate returns midnight UTC of t's UTC date.
func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
