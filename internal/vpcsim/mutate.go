package vpcsim

import (
	"net/http"
	"strings"
)

type routeOp int

const (
	opCreate routeOp = iota
	opReplace
	opDelete
)

// failRule is the injected "this table is broken" fault as the VPC sees it.
type failRule struct {
	table string
	code  string
}

// mutateRoute applies one CreateRoute/ReplaceRoute/DeleteRoute with EC2's
// checks. The order matters: authorisation (the injected table failure
// stands for an IAM policy that leaves the table out) before existence, and
// DryRun after the resource checks but before the route's own state, which
// is as far as EC2's DryRun is known to look.
func (v *VPC) mutateRoute(op routeOp, rtbID string, r Route, dryRun bool, fail failRule) *APIError {
	v.mu.Lock()
	defer v.mu.Unlock()
	if fail.table != "" && fail.table == rtbID {
		code := fail.code
		if code == "" {
			code = CodeUnauthorizedOperation
		}
		return apiErr(statusFor(code), code, "vpcsim: injected failure for route table %s", rtbID)
	}
	t, ok := v.tables[rtbID]
	if !ok {
		return errTableNotFound(rtbID)
	}
	if r.NetworkInterface != "" {
		if _, ok := v.enis[r.NetworkInterface]; !ok {
			return errENINotFound(r.NetworkInterface)
		}
	}
	if r.GatewayID != "" && !strings.HasPrefix(r.GatewayID, "igw-") && !strings.HasPrefix(r.GatewayID, "vgw-") {
		return apiErr(http.StatusBadRequest, CodeGatewayNotFound, "The gateway ID '%s' does not exist", r.GatewayID)
	}
	if dryRun {
		return errDryRun()
	}
	old, exists := t.routes[r.Destination]
	switch op {
	case opCreate:
		if exists {
			return apiErr(http.StatusBadRequest, CodeRouteAlreadyExists,
				"The route identified by %s already exists.", r.Destination)
		}
	case opReplace, opDelete:
		if !exists {
			return errRouteNotFound(rtbID, r.Destination)
		}
		if old.GatewayID == "local" {
			return errInvalid("cannot modify or remove the local route %s in route table %s", r.Destination, rtbID)
		}
	}
	if op == opDelete {
		delete(t.routes, r.Destination)
	} else {
		r.Origin, r.State = OriginCreateRoute, StateActive
		t.routes[r.Destination] = r
	}
	v.bumpLocked()
	return nil
}
