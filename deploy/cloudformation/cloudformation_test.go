// Package cloudformation_test checks every CloudFormation template of
// deploy/cloudformation against the CloudFormation resource schemas of
// @aws-cdk/aws-service-spec (schema/validate.js, pinned by
// schema/package-lock.json; `make tools` runs npm ci), and keeps the Lambda
// stack's IAM role in step with deploy/iam.
package cloudformation_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rsagent/rsagent/internal/netns"
)

// requireSpec skips (or, in CI, fails) when node or the npm packages are
// missing, saying how to get them.
func requireSpec(t *testing.T) {
	t.Helper()
	netns.RequireBinaries(t, "node")
	if _, err := os.Stat("schema/node_modules/@aws-cdk/aws-service-spec/db.json.gz"); err != nil {
		if os.Getenv(netns.RequireEnv) == "1" {
			t.Fatalf("the CloudFormation schemas are not installed (run `make tools`): %v", err)
		}
		t.Skipf("skipping: the CloudFormation schemas are not installed (run `make tools`): %v", err)
	}
}

func validate(t *testing.T, files ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("node", append([]string{"schema/validate.js"}, files...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("node schema/validate.js: %v\n%s", err, out)
	}
	return string(out), code
}

func TestTemplatesMatchTheCloudFormationSchemas(t *testing.T) {
	requireSpec(t)
	templates, err := filepath.Glob("*.yaml")
	if err != nil || len(templates) < 2 {
		t.Fatalf("found %d templates: %v", len(templates), err)
	}
	out, code := validate(t, templates...)
	if code != 0 || !strings.Contains(out, "OK: "+strconv.Itoa(len(templates))+" template(s)") {
		t.Fatalf("validate.js exited %d:\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
}

// The checker must find each kind of mistake it claims to find.
func TestTheSchemaCheckFindsEveryKindOfMistake(t *testing.T) {
	requireSpec(t)
	out, code := validate(t, "schema/testdata/broken.yaml")
	if code != 1 {
		t.Fatalf("validate.js exited %d on a broken template:\n%s", code, out)
	}
	for _, want := range []string{
		`Parameters.Mode.Default: "fast" is not one of AllowedValues`,
		`Resources.NoSuchType.Type: unknown resource type AWS::EC2::RouteSever`,
		`Resources.UnknownProperty.Properties.PersistRoute: AWS::EC2::RouteServer has no property PersistRoute`,
		`Resources.WrongType.Properties.AmazonSideAsn: want a number, got a list`,
		`Resources.MissingRequired.Properties.RouteServerId: required by AWS::EC2::RouteServerAssociation`,
		`Resources.BadAllowedValue.Properties.BgpOptions.PeerLivenessDetection: "bfd-fast" is not one of bfd, bgp-keepalive`,
		`Resources.NestedUnknown.Properties.RouteServerEndpointId: AWS::EC2::RouteServer has no attribute NoSuchAttribute`,
		`Resources.NestedUnknown.Properties.PeerAddress: Ref to unknown NotDeclared`,
		`Resources.NestedUnknown.Properties.BgpOptions.Md5Password: BgpOptions has no property Md5Password`,
		`Resources.BadSub.Condition: unknown condition Sometimes`,
		`Resources.BadSub.DependsOn: unknown resource Ghost`,
		`Resources.BadSub.Properties.TopicName: Sub variable ${Missing} resolves to nothing`,
		`Outputs.Out.Value[1]: GetAtt of unknown resource Ghost`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate.js did not report %q", want)
		}
	}
	if n := strings.Count(out, "schema/testdata/broken.yaml: "); n != 13 {
		t.Errorf("reported %d problems, want exactly the 13 planted:\n%s", n, out)
	}
}

// The pinned schema package is the one installed.
func TestTheSchemaPackageIsThePinnedOne(t *testing.T) {
	requireSpec(t)
	var pkg, installed struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	for path, v := range map[string]any{"schema/package.json": &pkg, "schema/node_modules/@aws-cdk/aws-service-spec/package.json": &installed} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	pin := pkg.Dependencies["@aws-cdk/aws-service-spec"]
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(pin) || installed.Version != pin {
		t.Errorf("package.json pins %q (want an exact version), node_modules has %q: run make tools", pin, installed.Version)
	}
}

// The Lambda stack's role grants exactly the EC2 actions of deploy/iam, the
// policies routetable's IAM test keeps equal to the calls the code makes.
func TestTheLambdaRoleGrantsTheReconcilerPolicyActions(t *testing.T) {
	b, err := os.ReadFile("sync-routes-lambda.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl yaml.Node
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	role := lookup(&tpl, "Resources", "FunctionRole", "Properties", "Policies")
	if role == nil {
		t.Fatal("Resources.FunctionRole.Properties.Policies not found")
	}
	var granted []string
	walk(role, func(n *yaml.Node) {
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "Action" {
				continue
			}
			// Both branches of an !If count: the role may grant either.
			walk(n.Content[i+1], func(a *yaml.Node) {
				if a.Kind == yaml.ScalarNode && strings.HasPrefix(a.Value, "ec2:") {
					granted = append(granted, a.Value)
				}
			})
		}
	})
	files, err := filepath.Glob("../iam/reconciler*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("found %d IAM policies: %v", len(files), err)
	}
	var want []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Statement []struct{ Action []string } }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range doc.Statement {
			for _, a := range s.Action {
				if strings.HasPrefix(a, "ec2:") {
					want = append(want, a)
				}
			}
		}
	}
	// The daemon looks up its own ENIs (the ones holding bgp.local_address)
	// to know which routes it owns; the function runs on no appliance and
	// never looks them up, so its role does without the action.
	notForTheFunction := map[string]string{"ec2:DescribeNetworkInterfaces": "own-ENI lookup of `rsagent run`"}
	want = slices.DeleteFunc(want, func(a string) bool { return notForTheFunction[a] != "" })
	slices.Sort(granted)
	granted = slices.Compact(granted)
	slices.Sort(want)
	want = slices.Compact(want)
	if len(want) == 0 || !slices.Equal(granted, want) {
		t.Errorf("the Lambda role grants %v\ndeploy/iam grants      %v", granted, want)
	}
}

// lookup follows mapping keys from a document node.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

func walk(n *yaml.Node, f func(*yaml.Node)) {
	f(n)
	for _, c := range n.Content {
		walk(c, f)
	}
}
