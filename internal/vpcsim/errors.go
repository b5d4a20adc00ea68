package vpcsim

import (
	"fmt"
	"net/http"
	"net/netip"
)

// APIError is an EC2 error as the server answers it; the VPC's own methods
// return it wrapped so tests can match codes with errors.As.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error formats the error as "Code: Message".
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// EC2 error codes the server answers with.
const (
	CodeDryRunOperation          = "DryRunOperation"
	CodeRequestLimitExceeded     = "RequestLimitExceeded"
	CodeUnavailable              = "Unavailable"
	CodeInternalError            = "InternalError"
	CodeUnauthorizedOperation    = "UnauthorizedOperation"
	CodeAuthFailure              = "AuthFailure"
	CodeInvalidAction            = "InvalidAction"
	CodeMissingParameter         = "MissingParameter"
	CodeInvalidParameterValue    = "InvalidParameterValue"
	CodeInvalidParameterCombo    = "InvalidParameterCombination"
	CodeInvalidPaginationToken   = "InvalidPaginationToken"
	CodeRouteTableNotFound       = "InvalidRouteTableID.NotFound"
	CodeRouteNotFound            = "InvalidRoute.NotFound"
	CodeRouteAlreadyExists       = "RouteAlreadyExists"
	CodeNetworkInterfaceNotFound = "InvalidNetworkInterfaceID.NotFound"
	CodeGatewayNotFound          = "InvalidGatewayID.NotFound"
	CodeRouteServerNotFound      = "InvalidRouteServerId.NotFound"
)

// statusFor gives the HTTP status EC2 uses for a code, for injected failures.
func statusFor(code string) int {
	switch code {
	case CodeInternalError:
		return http.StatusInternalServerError
	case CodeUnavailable, CodeRequestLimitExceeded:
		return http.StatusServiceUnavailable
	case CodeUnauthorizedOperation:
		return http.StatusForbidden
	case CodeAuthFailure:
		return http.StatusUnauthorized
	case CodeDryRunOperation:
		return http.StatusPreconditionFailed
	}
	return http.StatusBadRequest
}

func errTableNotFound(id string) *APIError {
	return apiErr(http.StatusBadRequest, CodeRouteTableNotFound, "The routeTable ID '%s' does not exist", id)
}

func errRouteNotFound(rtbID string, dst netip.Prefix) *APIError {
	return apiErr(http.StatusBadRequest, CodeRouteNotFound,
		"no route with destination-cidr-block %s in route table %s", dst, rtbID)
}

func errENINotFound(id string) *APIError {
	return apiErr(http.StatusBadRequest, CodeNetworkInterfaceNotFound, "The networkInterface ID '%s' does not exist", id)
}

func errRouteServerNotFound(id string) *APIError {
	return apiErr(http.StatusBadRequest, CodeRouteServerNotFound, "The route server ID '%s' does not exist", id)
}

func errMissing(name string) *APIError {
	return apiErr(http.StatusBadRequest, CodeMissingParameter, "The request must contain the parameter %s", name)
}

func errInvalid(format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, CodeInvalidParameterValue, format, args...)
}

func errDryRun() *APIError {
	return apiErr(http.StatusPreconditionFailed, CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
}
