package loadtest

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// reportFunc reports a problem of a scenario under a key path.
type reportFunc = func(key, format string, args ...any)

// plan is a compiled, validated scenario: what a run needs. It is
// immutable after compile.
type plan struct {
	sched      schedule
	templates  mix[*template]
	tmplList   []*template
	clients    mix[*behaviour]
	classes    []string
	rules      []Threshold
	actions    []Action
	setupPath  tmpl
	adminInURL bool          // an action uses {issuer_admin}
	maxTimeout time.Duration // the longest per-try timeout
}

// template is a compiled Request.
type template struct {
	index     int // in plan.tmplList
	name      string
	class     int
	method    string
	path      tmpl
	body      tmpl
	headers   []header
	key       *keyGen
	params    []*keyGen // by slot
	okStatus  []int
	timeout   time.Duration
	clients   *mix[*behaviour] // nil: the scenario's
	needsCode bool
	// hasContentType: Headers set Content-Type, else a body gets
	// application/json.
	hasContentType bool
}

// header is a compiled request header.
type header struct {
	name  string
	value tmpl
}

var (
	classRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	methodRe = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$`)
)

// itoa is strconv.Itoa.
func itoa(i int) string { return strconv.Itoa(i) }

// compile validates s (with its defaults applied) and compiles it,
// reporting every problem.
func compile(s *Scenario, report reportFunc) *plan {
	p := &plan{sched: compileSchedule(s.Phases, report)}
	checkTarget(s.Target, "target", true, report)
	if s.Timeout <= 0 || s.Timeout > 10*time.Minute {
		report("timeout", "must be more than 0 and at most 10m, got %v", s.Timeout)
	}
	p.compileClients(s.Clients, "clients", &p.clients, report)
	p.compileSetup(s.Setup, report)
	if len(s.Requests) == 0 {
		report("requests", "at least one request template is required")
	}
	for i, r := range s.Requests {
		t := p.compileRequest(s, r, "requests["+itoa(i)+"]", report)
		t.index = i
		p.templates.add(t, weightOr(r.Weight, 1))
		p.tmplList = append(p.tmplList, t)
	}
	p.compileActions(s.Actions, report)
	for i, rule := range s.Thresholds {
		th, err := ParseThreshold(rule, p.classes)
		if err != nil {
			report("thresholds["+itoa(i)+"]", "%v", err)
		}
		p.rules = append(p.rules, th)
	}
	return p
}

// checkTarget reports a base URL that is not http(s)://host:port; with
// list, a comma-separated list of them.
func checkTarget(target, key string, list bool, report reportFunc) {
	if target == "" {
		return
	}
	var err error
	if list {
		_, err = parseTargets(target)
	} else {
		_, err = parseTarget(target)
	}
	if err != nil {
		report(key, "%v", err)
	}
}

// compileClients compiles a client mix into m; an empty list means all
// patient.
func (p *plan) compileClients(cs []Client, key string, m *mix[*behaviour], report reportFunc) {
	if len(cs) == 0 {
		m.add(&behaviour{kind: kindPatient, maxRetryAfter: DefaultMaxRetryAfter}, 1)
	}
	for i, c := range cs {
		m.add(compileClient(c, key+"["+itoa(i)+"]", report), weightOr(c.Weight, 1))
	}
}

// compileSetup validates the setup section.
func (p *plan) compileSetup(st Setup, report reportFunc) {
	checkTarget(st.Target, "setup.target", false, report)
	if st.Pool < 1 || st.Pool > 100000 {
		report("setup.pool", "must be 1 to 100000, got %d", st.Pool)
	}
	if st.Concurrency < 1 || st.Concurrency > 1000 {
		report("setup.concurrency", "must be 1 to 1000, got %d", st.Concurrency)
	}
	if st.Field == "" {
		report("setup.field", "must not be empty")
	}
	if st.Path == "" {
		return
	}
	if !strings.HasPrefix(st.Path, "/") {
		report("setup.path", "must start with /, got %q", st.Path)
	}
	p.setupPath = parseTemplate(st.Path, nil, func(name string) {
		report("setup.path", "unknown placeholder {%s}: setup paths have {key} only", name)
	})
	if !p.setupPath.uses(phKey) {
		report("setup.path", "must use {key}")
	}
	for _, seg := range p.setupPath {
		if seg.ph != phNone && seg.ph != phKey {
			report("setup.path", "setup paths have {key} only")
		}
	}
}

// classIndex returns the index of class, adding it when new.
func (p *plan) classIndex(class string) int {
	for i, c := range p.classes {
		if c == class {
			return i
		}
	}
	p.classes = append(p.classes, class)
	return len(p.classes) - 1
}

// compileRequest validates and compiles one request template.
func (p *plan) compileRequest(s *Scenario, r Request, key string, report reportFunc) *template {
	t := &template{name: r.Name, method: r.Method, timeout: r.Timeout, okStatus: r.OKStatus}
	switch {
	case r.Class == "":
		report(key+".class", "required: the label results are reported under, such as scan")
	case !classRe.MatchString(r.Class) || r.Class == "all" || r.Class == "run":
		report(key+".class", "%q: want lower-case letters, digits, - and _, not all or run", r.Class)
	}
	t.class = p.classIndex(r.Class)
	if t.name == "" {
		t.name = r.Class
	}
	if r.Weight != nil && !(*r.Weight > 0) {
		report(key+".weight", "must be positive, got %v", *r.Weight)
	}
	p.compileMethod(t, r, key, report)
	if t.timeout == 0 {
		t.timeout = s.Timeout
	}
	if t.timeout < 0 || t.timeout > 10*time.Minute {
		report(key+".timeout", "must be more than 0 and at most 10m, got %v", r.Timeout)
	}
	for i, st := range r.OKStatus {
		if st < 100 || st > 599 {
			report(key+".ok_status["+itoa(i)+"]", "not an HTTP status: %d", st)
		}
	}
	p.compileTemplates(t, r, key, report)
	p.compileKeys(t, s, r, key, report)
	if len(r.Clients) > 0 {
		t.clients = &mix[*behaviour]{}
		p.compileClients(r.Clients, key+".clients", t.clients, report)
	}
	p.maxTimeout = max(p.maxTimeout, t.timeout)
	return t
}

// compileMethod applies the method's default and checks it.
func (p *plan) compileMethod(t *template, r Request, key string, report reportFunc) {
	if t.method == "" {
		t.method = "GET"
		if r.Body != "" {
			t.method = "POST"
		}
	}
	if !methodRe.MatchString(t.method) {
		report(key+".method", "unknown method %q (want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)", r.Method)
	}
	if r.Body != "" && (t.method == "GET" || t.method == "HEAD") {
		report(key+".body", "a %s request has no body", t.method)
	}
}

// compileTemplates compiles the path, body and header templates.
func (p *plan) compileTemplates(t *template, r Request, key string, report reportFunc) {
	slots, _ := paramSlots(r.Params)
	unknown := func(field string) func(string) {
		return func(name string) {
			report(key+field, "unknown placeholder {%s} (have key, code, seq, run%s)", name, paramList(r.Params))
		}
	}
	switch {
	case r.Path == "":
		report(key+".path", "required")
	case !strings.HasPrefix(r.Path, "/"):
		report(key+".path", "must start with /, got %q", r.Path)
	}
	t.path = parseTemplate(r.Path, slots, unknown(".path"))
	t.body = parseTemplate(r.Body, slots, unknown(".body"))
	for _, name := range sortedKeys(r.Headers) {
		v := r.Headers[name]
		if name == "" || strings.ContainsAny(name, " :\r\n") {
			report(key+".headers", "bad header name %q", name)
		}
		t.headers = append(t.headers, header{name: name, value: parseTemplate(v, slots, unknown(".headers."+name))})
		t.hasContentType = t.hasContentType || strings.EqualFold(name, "Content-Type")
	}
	t.needsCode = t.path.uses(phCode) || t.body.uses(phCode)
	for _, h := range t.headers {
		t.needsCode = t.needsCode || h.value.uses(phCode)
	}
}

// paramList returns ", a, b" for params a and b.
func paramList(params map[string]Key) string {
	_, names := paramSlots(params)
	if len(names) == 0 {
		return ""
	}
	return ", " + strings.Join(names, ", ")
}

// usesKey reports whether any of t's templates has {key}.
func (t *template) usesKey() bool {
	if t.path.uses(phKey) || t.body.uses(phKey) {
		return true
	}
	for _, h := range t.headers {
		if h.value.uses(phKey) {
			return true
		}
	}
	return false
}

// compileKeys compiles the key and the params of a template.
func (p *plan) compileKeys(t *template, s *Scenario, r Request, key string, report reportFunc) {
	slots, names := paramSlots(r.Params)
	if len(names) > maxParams {
		report(key+".params", "at most %d params, got %d", maxParams, len(names))
		return
	}
	t.params = make([]*keyGen, len(names))
	for _, name := range names {
		if _, builtin := builtinPlaceholders[name]; builtin {
			report(key+".params."+name, "%q is a builtin placeholder", name)
		}
		t.params[slots[name]] = compileKey(r.Params[name], key+".params."+name, report)
	}
	needKey := t.usesKey() || t.needsCode
	switch {
	case needKey && r.Key.Kind == "" && r.Key.Population == 0:
		report(key+".key", "required: the template uses {key} or {code}")
		return
	case !needKey && r.Key != (Key{}):
		report(key+".key", "the template uses neither {key} nor {code}")
		return
	case !needKey:
		return
	}
	t.key = compileKey(r.Key, key+".key", report)
	if t.needsCode {
		if s.Setup.Path == "" {
			report(key, "uses {code}: the scenario needs setup.path, such as /v1/codes/{key}")
		}
		t.key = t.key.withPopulation(min(t.key.population, int64(max(s.Setup.Pool, 1))))
	}
}

// compileActions validates the timed actions.
func (p *plan) compileActions(as []Action, report reportFunc) {
	for i, a := range as {
		key := "actions[" + itoa(i) + "]"
		if a.At < 0 || a.At > p.sched.total {
			report(key+".at", "must be 0 to the end of the phases (%v), got %v", p.sched.total, a.At)
		}
		if a.Post == "" {
			report(key+".post", "required: the URL to POST to")
		} else if u, err := url.Parse(strings.ReplaceAll(a.Post, "{issuer_admin}", "127.0.0.1:1")); err != nil ||
			(u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(key+".post", "want an http:// or https:// URL, got %q", a.Post)
		}
		p.adminInURL = p.adminInURL || strings.Contains(a.Post, "{issuer_admin}")
		p.actions = append(p.actions, a)
	}
}
