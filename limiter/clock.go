package limiter

import "time"

// Timer is a stoppable, resettable one-shot timer created by
// Config.AfterFunc. *time.Timer implements it, with the semantics of Go 1.23
// and later: Stop returns false when the function has already been started.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

var _ Timer = (*time.Timer)(nil)

// realAfterFunc is the default Config.AfterFunc.
func realAfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}
