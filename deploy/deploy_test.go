package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// tool returns the path of a command the test needs. Without it the test
// is skipped, unless the variable require names is set (as .ci/run sets
// SHEDGATE_REQUIRE_PROMETHEUS): then its absence is a failure.
func tool(t *testing.T, name, require string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if require != "" && os.Getenv(require) != "" {
		t.Fatalf("%s not found (scripts/deps.sh installs it)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildGateway builds the gateway (and the simulated issuer) from the
// repository into a temporary directory.
func buildGateway(t *testing.T, extraEnv ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/gateway", "./cmd/issuer-sim")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), extraEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "SHEDGATE_REQUIRE_PROMETHEUS")
	out := run(t, "prometheus", promtool, "check", "rules", "alerts.yml")
	t.Log(out)
	out = run(t, "prometheus", promtool, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// TestSystemdUnit verifies the unit with systemd-analyze, its binary path
// pointing at a fresh build, and checks the drain fits in TimeoutStopSec.
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "")
	unit, err := os.ReadFile("systemd/shedgate.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildGateway(t)
	dir := t.TempDir()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/shedgate-gateway", bin+"/gateway")
	path := filepath.Join(dir, "shedgate.service")
	os.WriteFile(path, []byte(text), 0o644) //nolint:errcheck
	cmd := exec.Command(analyze, "verify", path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "-config /etc/shedgate/gateway.yaml", "TimeoutStopSec=40s"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// containerConfig returns the container's config file and what the
// Containerfile says of it: the path the entrypoint reads.
func containerConfig(t *testing.T) (cfgPath string, exposed []string) {
	t.Helper()
	b, err := os.ReadFile("container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			var argv []string
			if err := json.Unmarshal([]byte(rest), &argv); err != nil {
				t.Fatalf("ENTRYPOINT: %v", err)
			}
			if i := slices.Index(argv, "-config"); i >= 0 && i+1 < len(argv) {
				cfgPath = argv[i+1]
			}
		}
		if rest, ok := strings.CutPrefix(line, "EXPOSE "); ok {
			exposed = strings.Fields(rest)
		}
	}
	if cfgPath == "" {
		t.Fatal("Containerfile: no -config in ENTRYPOINT")
	}
	return cfgPath, exposed
}

// TestContainerConfigValid runs gateway -check on the container's config,
// and checks its ports are the ones the Containerfile exposes.
func TestContainerConfigValid(t *testing.T) {
	bin := buildGateway(t)
	run(t, ".", bin+"/gateway", "-check", "-config", "container/gateway.yaml")
	_, exposed := containerConfig(t)
	cfg, _ := os.ReadFile("container/gateway.yaml")
	for _, port := range exposed {
		if !regexp.MustCompile(`(?m)^  (listen|probe_listen): ":` + port + `"`).Match(cfg) {
			t.Errorf("EXPOSE %s: no listener on :%s in container/gateway.yaml", port, port)
		}
	}
}

// TestContainerImage builds the image with Debian's podman where it is
// installed, and starts it where the machine lets containers run.
func TestContainerImage(t *testing.T) {
	podman := tool(t, "podman", "SHEDGATE_REQUIRE_PODMAN")
	dir := buildGateway(t, "CGO_ENABLED=0")
	os.MkdirAll("../bin", 0o755) //nolint:errcheck
	run(t, ".", "cp", dir+"/gateway", "../bin/gateway-static")
	tag := fmt.Sprintf("localhost/shedgate-test:%d", time.Now().UnixNano())
	run(t, "..", podman, "build", "-q", "-f", "deploy/container/Containerfile", "-t", tag, ".")
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", tag).Run() }) //nolint:errcheck
	out := run(t, ".", podman, "image", "inspect", "--format", "{{json .Config}}", tag)
	var c struct {
		Entrypoint   []string
		ExposedPorts map[string]any
		User         string
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("inspect: %v: %s", err, out)
	}
	if c.Entrypoint[0] != "/usr/local/bin/shedgate-gateway" || c.User != "65534:65534" || c.ExposedPorts["9091/tcp"] == nil {
		t.Fatalf("image config %+v", c)
	}
	cmd := exec.Command(podman, "run", "--rm", "--network=none", tag, "-check", "-config", "/etc/shedgate/gateway.yaml")
	got, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(got), "OCI permission denied") {
		t.Logf("built; not started, this machine refuses containers their limits: %s", got)
		return
	}
	if err != nil || !strings.Contains(string(got), "is valid") {
		t.Fatalf("podman run -check: %v\n%s", err, got)
	}
}

// TestKubernetesManifest decodes the example strictly into the Kubernetes
// API types (an unknown or misplaced field fails), and checks it against
// the container: probes on the probe listener, the config mounted where
// the entrypoint reads it, a grace period that covers the drain.
func TestKubernetesManifest(t *testing.T) {
	b, err := os.ReadFile("kubernetes/shedgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Deployment":
			dep = new(appsv1.Deployment)
			err = yaml.UnmarshalStrict([]byte(doc), dep)
		case "Service":
			svc = new(corev1.Service)
			err = yaml.UnmarshalStrict([]byte(doc), svc)
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if dep == nil || svc == nil {
		t.Fatal("want a Deployment and a Service")
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	cfgPath, exposed := containerConfig(t)
	for _, p := range exposed {
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return fmt.Sprint(cp.ContainerPort) == p }) {
			t.Errorf("container port %s exposed by the image is not declared", p)
		}
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || ports[probe.HTTPGet.Port.StrVal] != 9091 {
			t.Errorf("%s probe must GET the probe listener (:9091): %+v", name, probe)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness path %q", c.ReadinessProbe.HTTPGet.Path)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 5+30 {
		t.Errorf("terminationGracePeriodSeconds %v: want >= drain_delay + drain_timeout (35)", g)
	}
	if m := c.VolumeMounts[0].MountPath; m != filepath.Dir(cfgPath) {
		t.Errorf("config mounted at %s; the entrypoint reads %s", m, cfgPath)
	}
	if svc.Spec.Ports[0].TargetPort.StrVal != "http" || ports["http"] != 8080 {
		t.Errorf("service must target the http port 8080")
	}
}

var metricRe = regexp.MustCompile(`\b(gateway_[a-z_]+)`)

// TestDashboardQueriesLiveMetrics checks that every metric the Grafana
// dashboard queries is on a live gateway's /metrics.
func TestDashboardQueriesLiveMetrics(t *testing.T) {
	b, err := os.ReadFile("grafana/shedgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	text := liveMetrics(t)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				n++
				if !regexp.MustCompile(`(?m)^` + m + `[{ ]`).MatchString(text) {
					t.Errorf("panel %q queries %s, which /metrics lacks", p.Title, m)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d metric references in the dashboard; want its panels", n)
	}
}

// liveMetrics starts the simulated issuer and a gateway with the container's
// config (listeners moved to free loopback ports), sends a request, and
// returns /metrics.
func liveMetrics(t *testing.T) string {
	t.Helper()
	bin := buildGateway(t)
	issuer := exec.Command(bin+"/issuer-sim", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0")
	issuerAddr := startAndRead(t, issuer)[0]
	cfg, _ := os.ReadFile("container/gateway.yaml")
	s := string(cfg)
	s = strings.Replace(s, `listen: ":8080"`, `listen: "127.0.0.1:0"`, 1)
	s = strings.Replace(s, `admin_listen: "127.0.0.1:9090"`, `admin_listen: "127.0.0.1:0"`, 1)
	s = strings.Replace(s, `probe_listen: ":9091"`, `probe_listen: "127.0.0.1:0"`, 1)
	s = strings.Replace(s, `"issuer:9000"`, fmt.Sprintf("%q", issuerAddr), 1)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	os.WriteFile(path, []byte(s), 0o644) //nolint:errcheck
	addrs := startAndRead(t, exec.Command(bin+"/gateway", "-config", path, "-watch=false"))
	resp, err := http.Get("http://" + addrs[0] + "/v1/codes/11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + addrs[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body) //nolint:errcheck
	return buf.String()
}

// startAndRead starts cmd, stopped at the test's end, and returns the
// addresses of its "listening on A admin B ..." line.
func startAndRead(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.Contains(s.Text(), "listening on ") {
				lines <- s.Text()
				return
			}
		}
	}()
	select {
	case line := <-lines:
		_, rest, _ := strings.Cut(line, "listening on ")
		var addrs []string
		for i, f := range strings.Fields(rest) {
			if i%2 == 0 {
				addrs = append(addrs, f)
			}
		}
		return addrs
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: not listening after 15s", cmd.Path)
		return nil
	}
}
