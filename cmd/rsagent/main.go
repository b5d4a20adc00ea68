// Command rsagent is the Route Server agent for network appliances on AWS:
// a health-gated BGP speaker with BFD, and a route-table reconciler.
// See README.md and docs/.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := run(lambdaArgs(os.Args[0], os.Args[1:]))
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "rsagent:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "rsagent:", err)
	os.Exit(1)
}

func run(args []string) error {
	cmd := newRootCmd(os.Stdout, os.Stderr)
	cmd.SetArgs(args)
	return cmd.Execute()
}

// exitError carries an exit code: 1 runtime failure, 2 usage or config error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: 2, err: err} }
