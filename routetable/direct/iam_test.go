package direct

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rsagent/rsagent/internal/iamcheck"
)

// The shipped router policies grant exactly the EC2 calls API can make
// (DeleteRoute only in the remove_unlisted one).
func TestIAMPoliciesGrantExactlyTheCallsUsed(t *testing.T) {
	iamcheck.GrantsExactly(t, filepath.Join("..", "..", "deploy", "iam", "router*.json"), 2, reflect.TypeFor[API]())
}
