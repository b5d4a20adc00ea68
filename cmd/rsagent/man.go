//go:build mangen

// The man command is built only with -tags mangen (`make deb` runs it):
// the released binary carries neither it nor the roff generator.

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { extraCommands = append(extraCommands, newManCmd) }

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages (section 1) of rsagent and its commands into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			// The date comes from SOURCE_DATE_EPOCH when set (reproducible builds).
			header := &doc.GenManHeader{Title: "RSAGENT", Section: "1", Source: "rsagent " + cmd.Root().Version,
				Manual: "rsagent manual"}
			if err := doc.GenManTree(cmd.Root(), header, args[0]); err != nil {
				return fmt.Errorf("write man pages into %s: %w", args[0], err)
			}
			return nil
		},
	}
}
