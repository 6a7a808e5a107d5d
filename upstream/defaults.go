package upstream

import "time"

// The values a zero field of Config, Health, Outlier or Retry stands for.
// configs gives a gateway config the same ones, read from here.
const (
	DefaultTimeout           = 2 * time.Second
	DefaultMaxConnsPerTarget = 1024

	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = 500 * time.Millisecond
	DefaultHealthyAfter   = 2
	DefaultUnhealthyAfter = 2

	DefaultMinRequests    = 20
	DefaultOutlierWindow  = 10 * time.Second
	DefaultBaseEjection   = time.Second
	DefaultMaxEjection    = 30 * time.Second
	DefaultHalfOpenProbes = 3

	DefaultAttempts            = 2
	DefaultBudgetRatio         = 0.1
	DefaultMinRetriesPerSecond = 3.0
)
