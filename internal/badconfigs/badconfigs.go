// Package badconfigs is the table of bad gateway configs (cases.txt) and
// the error each must be refused with: configs' tests parse them, and the
// gateway's -check is run on each, so that both read one table.
package badconfigs

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

//go:embed cases.txt
var cases string

// Case is one bad config.
type Case struct {
	File string // the file's name, such as unknown_key.yaml
	YAML string // its content
	Line int    // the line the error must name
	Key  string // the key it must name
	Msg  string // a part of its message
}

// Prefix is the start of the error line the case must produce:
// "FILE:LINE: KEY: ".
func (c Case) Prefix() string {
	return c.File + ":" + strconv.Itoa(c.Line) + ": " + c.Key + ": "
}

// Cases returns the table, in file order. It panics if cases.txt is
// malformed: the table is part of the source.
func Cases() []Case {
	var out []Case
	for _, line := range strings.SplitAfter(cases, "\n") {
		head, ok := strings.CutPrefix(line, "-- ")
		if !ok {
			if len(out) > 0 {
				out[len(out)-1].YAML += line
			}
			continue
		}
		c, err := parseHead(strings.TrimSuffix(head, "\n"))
		if err != nil {
			panic(fmt.Sprintf("badconfigs: cases.txt: %q: %v", line, err))
		}
		out = append(out, c)
	}
	return out
}

// parseHead parses "FILE:LINE: KEY: MESSAGE".
func parseHead(s string) (Case, error) {
	file, rest, ok1 := strings.Cut(s, ":")
	num, rest, ok2 := strings.Cut(rest, ": ")
	key, msg, ok3 := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !ok1 || !ok2 || !ok3 || err != nil || file == "" || key == "" || msg == "" {
		return Case{}, fmt.Errorf("want FILE:LINE: KEY: MESSAGE")
	}
	return Case{File: file, Line: n, Key: key, Msg: msg}, nil
}
