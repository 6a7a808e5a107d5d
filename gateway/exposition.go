package gateway

import (
	"bytes"
	"io"
	"strings"
)

// family is one metric family of /metrics: its Prometheus type and help.
type family struct {
	typ  string // counter, gauge, histogram, summary
	help string
}

// exposition turns the text VictoriaMetrics/metrics writes (its samples,
// each preceded by a HELP and TYPE line of its own choosing, the same
// family at times in several places) into the exposition format stock
// Prometheus reads: each family's samples together, under one HELP and one
// TYPE line from families. A family families does not know keeps the type
// it came with and a generic help; TestMetricsFamiliesAreDescribed fails
// on any gateway_ family without an entry.
type exposition struct {
	order []string
	fams  map[string]*expoFamily
}

type expoFamily struct {
	typ     string
	samples bytes.Buffer
}

// parse reads raw, a text of Prometheus samples with optional metadata.
func (e *exposition) parse(raw []byte) {
	if e.fams == nil {
		e.fams = make(map[string]*expoFamily)
	}
	var cur string // the family of the last TYPE line
	for line := range bytes.Lines(raw) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("# TYPE ")) {
			f := strings.Fields(string(line[len("# TYPE "):]))
			if len(f) == 2 {
				cur = f[0]
				e.family(cur).typ = f[1]
			}
			continue
		}
		if line[0] == '#' {
			continue // HELP lines: families' text replaces them
		}
		name := sampleName(line)
		fam := name
		if cur != "" && (name == cur || belongsTo(name, cur, e.fams[cur].typ)) {
			fam = cur
		}
		b := &e.family(fam).samples
		b.Write(line)
		b.WriteByte('\n')
	}
}

func (e *exposition) family(name string) *expoFamily {
	f := e.fams[name]
	if f == nil {
		f = &expoFamily{}
		e.fams[name] = f
		e.order = append(e.order, name)
	}
	return f
}

// write writes every family parsed, in the order first seen.
func (e *exposition) write(w io.Writer) {
	var b bytes.Buffer
	for _, name := range e.order {
		f := e.fams[name]
		d, ok := families[name]
		if !ok {
			d, ok = runtimeFamily(name, f.typ)
			if !ok {
				continue
			}
		}
		b.WriteString("# HELP " + name + " " + d.help + "\n")
		b.WriteString("# TYPE " + name + " " + d.typ + "\n")
		b.Write(f.samples.Bytes())
	}
	w.Write(b.Bytes()) //nolint:errcheck // a scrape's connection; nothing to do
}

// runtimeFamily describes a process or Go runtime family that
// VictoriaMetrics/metrics writes, by Prometheus's naming rules: what ends
// in _total counts (the library types some as gauges). It reports false
// for the few that break those rules (go_cgo_calls_count, go_cpu_count,
// go_gc_forced_count), which /metrics leaves out so that promtool check
// metrics finds nothing to report (TestMetricsPassPromtool).
func runtimeFamily(name, typ string) (family, bool) {
	d := family{typ: typ, help: "Process or Go runtime figure, as VictoriaMetrics/metrics reports it."}
	switch {
	case strings.HasSuffix(name, "_total"):
		d.typ = "counter"
	case strings.HasSuffix(name, "_count"):
		return d, false
	case d.typ == "":
		d.typ = "untyped"
	}
	return d, true
}

// sampleName is the metric name of a sample line: up to { or a space.
func sampleName(line []byte) string {
	i := bytes.IndexAny(line, "{ ")
	if i < 0 {
		return string(line)
	}
	return string(line[:i])
}

// belongsTo reports whether a sample named name is part of family fam of
// type typ: a histogram's _bucket, _sum and _count, a summary's _sum and
// _count.
func belongsTo(name, fam, typ string) bool {
	rest, ok := strings.CutPrefix(name, fam)
	if !ok {
		return false
	}
	switch typ {
	case "histogram":
		return rest == "_bucket" || rest == "_sum" || rest == "_count"
	case "summary":
		return rest == "_sum" || rest == "_count"
	}
	return false
}
