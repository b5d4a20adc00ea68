package routetable

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// The shipped IAM policies must grant exactly the EC2 calls API can make,
// plus sns:Publish for SNSNotifier.
func TestIAMPoliciesGrantExactlyTheCallsUsed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "deploy", "iam", "reconciler*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("found %d policies: %v", len(files), err)
	}
	var granted []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []struct{ Action []string }
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range doc.Statement {
			granted = append(granted, s.Action...)
		}
	}
	want := []string{"sns:Publish"}
	api := reflect.TypeFor[API]()
	for i := range api.NumField() {
		want = append(want, "ec2:"+api.Field(i).Name)
	}
	slices.Sort(granted)
	slices.Sort(want)
	if !slices.Equal(granted, want) {
		t.Errorf("policies grant %v\nthe code uses  %v", granted, want)
	}
}
