// Package deploy holds no code: its tests check what operators install
// beside the gateway binary (alert rules, dashboard, systemd unit,
// container recipe, Kubernetes example) against the tools that read them
// and against a live gateway. It is a module of its own so that the
// Kubernetes API types its schema check decodes into stay out of the
// gateway's dependencies.
package deploy
