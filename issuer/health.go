package issuer

import (
	"hash/fnv"
	"sync"
	"time"
)

// UnveilFor is how long a venue check-in unveils a person's health code.
const UnveilFor = 10 * time.Minute

// HealthMaxAge is the Cache-Control max-age, in seconds, of a health status.
const HealthMaxAge = 60

// healthStatus returns the deterministic health status of id: about 90%
// "green", 8% "yellow" and 2% "red", the same in every process.
func healthStatus(id []byte) string {
	h := fnv.New64a()
	h.Write(id)
	switch n := h.Sum64() % 100; {
	case n < 90:
		return "green"
	case n < 98:
		return "yellow"
	default:
		return "red"
	}
}

// venueLog records until when each person's health code is unveiled by a
// venue check-in. It is safe for concurrent use.
type venueLog struct {
	mu       sync.Mutex           // guards unveiled and checkins
	unveiled map[string]time.Time // resident ID → unveiled until
	checkins int64                // check-ins since the last prune
}

// pruneEvery is the number of check-ins between two removals of expired
// entries, which keeps the log bounded by the check-ins of UnveilFor.
const pruneEvery = 100000

func newVenueLog() *venueLog {
	return &venueLog{unveiled: make(map[string]time.Time)}
}

// checkin records a check-in of id at now and returns until when its code
// is unveiled.
func (v *venueLog) checkin(id string, now time.Time) time.Time {
	until := now.UTC().Add(UnveilFor).Truncate(time.Second)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.unveiled[id] = until
	if v.checkins++; v.checkins >= pruneEvery {
		v.checkins = 0
		for k, t := range v.unveiled {
			if !t.After(now) {
				delete(v.unveiled, k)
			}
		}
	}
	return until
}

// unveiledUntil returns until when id's code is unveiled, and false when it
// is not unveiled at now.
func (v *venueLog) unveiledUntil(id string, now time.Time) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	until, ok := v.unveiled[id]
	if ok && !until.After(now) {
		delete(v.unveiled, id)
		return time.Time{}, false
	}
	return until, ok
}
