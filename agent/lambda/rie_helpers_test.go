package lambda

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/netns"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// rieBinary is AWS's Lambda Runtime Interface Emulator; `make tools`
// installs the pinned version (go install) into .tools/bin, which `make
// test` puts on PATH.
const rieBinary = "aws-lambda-rie"

// packageFunction runs `make lambda-zip` with config as the packed
// rsagent.yaml and unpacks the zip into a task directory, as Lambda does
// into /var/task. It returns that directory: bootstrap and rsagent.yaml.
func packageFunction(tb testing.TB, config string) string {
	tb.Helper()
	netns.RequireBinaries(tb, "make", "zip")
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	work := tb.TempDir()
	zipPath := filepath.Join(work, "function.zip")
	cmd := exec.Command("make", "--no-print-directory", "lambda-zip", "GOARCH="+runtime.GOARCH,
		"LAMBDA_CONFIG="+config, "LAMBDA_DIR="+filepath.Join(work, "stage"), "LAMBDA_ZIP="+zipPath)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("make lambda-zip: %v\n%s", err, out)
	}
	task := filepath.Join(work, "task")
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		must(tb, os.MkdirAll(task, 0o755))
		must(tb, os.WriteFile(filepath.Join(task, f.Name), b, f.Mode().Perm()))
	}
	if slices.Sort(names); !slices.Equal(names, []string{"bootstrap", "rsagent.yaml"}) {
		tb.Fatalf("the zip holds %v, want bootstrap and rsagent.yaml", names)
	}
	if st, err := os.Stat(filepath.Join(task, "bootstrap")); err != nil || st.Mode().Perm()&0o111 == 0 {
		tb.Fatalf("bootstrap is not executable in the zip: %v %v", st, err)
	}
	return task
}

// rie is one emulated Lambda execution environment running bootstrap.
type rie struct {
	url  string
	proc *netns.Proc
}

// log is the emulator's and the function's output so far.
func (r *rie) log() string { return r.proc.Log() }

// startRIE runs the emulator on 127.0.0.1 (both its invoke API and the
// Runtime API it serves to the function) with task/bootstrap as the
// function, which reads task/rsagent.yaml as in Lambda. The function's
// environment holds only what Lambda would give it plus offline AWS
// credentials: nothing can reach AWS or IMDS. It is stopped (SIGTERM, then
// SIGKILL) at cleanup.
func startRIE(tb testing.TB, task string, timeout time.Duration) *rie {
	tb.Helper()
	netns.RequireBinaries(tb, rieBinary)
	invokeAddr := freeAddr(tb)
	runtimeAddr := freeAddr(tb)
	env := append(offlineEnv(tb), "AWS_REGION=us-east-1",
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(timeout.Seconds())),
		"AWS_LAMBDA_FUNCTION_NAME=rsagent-sync-routes", "LAMBDA_TASK_ROOT="+task)
	cmd := exec.Command(rieBinary, "--log-level", "error",
		"--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, filepath.Join(task, "bootstrap"))
	cmd.Dir = task
	cmd.Env = env
	r := &rie{url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations", proc: netns.StartCmd(tb, cmd)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", invokeAddr, time.Second)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the emulator did not listen on %s within 10 s: %v", invokeAddr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// offlineEnv is a process environment in which the AWS SDK finds static
// credentials and nothing else: no IMDS, no shared config, no profile.
func offlineEnv(tb testing.TB) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir(), "TZ=UTC"}
	for k, v := range vpcsim.OfflineAWSEnv() {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// invoke sends one event and returns the emulator's status and body.
func (r *rie) invoke(tb testing.TB, payload []byte) (int, []byte) {
	tb.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Post(r.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		tb.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read the invocation result: %v", err)
	}
	return resp.StatusCode, b
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := loophost.StablePort("tcp", lo)
	if err != nil {
		tb.Fatal(err)
	}
	return netip.AddrPortFrom(lo, p).String()
}

// lambdaConfig writes the function's config: the reconcile section only,
// pointed at the emulated EC2 endpoint.
func lambdaConfig(tb testing.TB, vpcID, endpoint, extra string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "rsagent.yaml")
	cfg := fmt.Sprintf("reconcile:\n  region: us-east-1\n  vpc_id: %s\n  endpoint: %s\n%slog: {level: info, format: json}\n", vpcID, endpoint, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// sampleEvent reads testdata/events/name and applies edit to its decoded
// form, so every event the tests send keeps all fields of the real shape.
func sampleEvent(tb testing.TB, name string, edit func(map[string]any)) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// patchEvent is the API Gateway REST proxy event for a Sync Routes PATCH
// that API Gateway accepted with an API key.
func patchEvent(tb testing.TB, vpc, rtb, body string) []byte {
	tb.Helper()
	return sampleEvent(tb, "apigw-patch.json", func(m map[string]any) {
		path := "/vpcs/" + vpc + "/route-tables/" + rtb
		m["path"] = path
		m["pathParameters"] = map[string]any{"vpc-id": vpc, "route-table-id": rtb}
		m["body"] = body
		rc := m["requestContext"].(map[string]any)
		rc["path"] = "/v1" + path
		id := rc["identity"].(map[string]any)
		id["apiKey"], id["apiKeyId"] = "caller-key-checked-by-api-gateway", "k1a2b3c4d5"
		m["headers"].(map[string]any)["x-api-key"] = "caller-key-checked-by-api-gateway"
		m["multiValueHeaders"].(map[string]any)["x-api-key"] = []any{"caller-key-checked-by-api-gateway"}
	})
}
