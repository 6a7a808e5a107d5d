// Package vegetacheck holds no code: its test runs the project's load
// harness (cmd/loadtest) and vegeta, a load tester its users know, against
// the same target at the same rate and compares what each reports. It is a
// module of its own so that vegeta's dependencies stay out of the
// gateway's.
package vegetacheck
