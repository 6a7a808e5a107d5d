package limiter

// Reason says why Acquire did not admit a request. ReasonNone means it did.
type Reason uint8

// The reasons Acquire gives. Their String values are fixed metric label
// values.
const (
	// ReasonNone: admitted; the Token must be released.
	ReasonNone Reason = iota
	// ReasonQueueFull: no slot was free and the class queue was at MaxQueue
	// (or the class has no queue); decided at once.
	ReasonQueueFull
	// ReasonTimeout: waited the class's MaxWait (or Config.OverloadWait in a
	// standing queue) without getting a slot.
	ReasonTimeout
	// ReasonDeadline: the request's own deadline can no longer be met (less
	// than the minimum backend RTT left); dropped before the backend.
	ReasonDeadline
	// ReasonShed: a higher class has a standing queue, so this lower class
	// request was turned away (or evicted from its queue) at once.
	ReasonShed
	// ReasonClosed: the limiter was closed, the class was removed by
	// Reconfigure, or the class index is out of range.
	ReasonClosed

	numReasons = iota
)

var reasonNames = [numReasons]string{"none", "queue_full", "timeout", "deadline", "shed", "closed"}

// String returns the reason's fixed snake_case name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// NumReasons is the number of Reason values, for arrays indexed by Reason
// such as ClassStats.Rejected.
const NumReasons = numReasons

// Outcome classifies a finished backend call for the controller.
type Outcome uint8

// The outcomes Token.Release accepts.
const (
	// OutcomeOK: the backend answered; the RTT is a latency sample.
	OutcomeOK Outcome = iota
	// OutcomeOverload: the backend timed out or answered 5xx: a drop
	// signal (multiplicative decrease), never a latency sample.
	OutcomeOverload
	// OutcomeIgnore: the client cancelled, a 4xx, or anything that says
	// nothing about backend load: the slot is returned, no sample taken.
	OutcomeIgnore
)

// String returns "ok", "overload" or "ignore".
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeOverload:
		return "overload"
	case OutcomeIgnore:
		return "ignore"
	}
	return "unknown"
}
