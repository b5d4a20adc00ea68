package routetable

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rsagent/rsagent/internal/iamcheck"
)

// The shipped IAM policies must grant exactly the EC2 calls API can make,
// plus sns:Publish for SNSNotifier.
func TestIAMPoliciesGrantExactlyTheCallsUsed(t *testing.T) {
	iamcheck.GrantsExactly(t, filepath.Join("..", "deploy", "iam", "reconciler*.json"), 1, reflect.TypeFor[API](), "sns:Publish")
}
