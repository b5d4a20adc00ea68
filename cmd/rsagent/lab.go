package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rsagent/rsagent/internal/lab"
)

// newLabCmd is `rsagent lab`: the emulated VPC and Route Server with an
// active/standby pair, ending with the failover timing table.
func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Run an emulated VPC + Route Server with an HA pair of agents and print failover timings (no root, no AWS)",
		Long: "lab builds an emulated VPC (EC2 API on 127.0.0.1) and an emulated Route Server (BGP + BFD endpoints on\n" +
			"127.0.0.230-231), runs two real agents (active 127.0.0.10, standby 127.0.0.11) and times each failure\n" +
			"scenario from the fault until the main and custom route tables point at the other appliance; then direct\n" +
			"mode: rsagent router and two hosts (127.0.0.20-21) in a VPC without Route Server, one host dies.\n" +
			"Loopback and high ports only; it never contacts AWS and ends by itself (about 20 s). See docs/lab.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			verbose, _ := cmd.Flags().GetBool("verbose")
			level := slog.LevelError // quiet: the table is the output
			if verbose {
				level = slog.LevelDebug
			}
			stderr := cmd.ErrOrStderr()
			opts := lab.Options{
				Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
				Progress: func(s string) { fmt.Fprintln(stderr, s) },
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			rep, err := lab.Run(ctx, opts)
			var werr error
			if asJSON {
				werr = rep.WriteJSON(cmd.OutOrStdout())
			} else {
				werr = rep.WriteTable(cmd.OutOrStdout())
			}
			if err != nil {
				return fmt.Errorf("lab: %w", err)
			}
			return werr
		},
	}
	c.Flags().Bool("json", false, "print the timing table as JSON")
	c.Flags().BoolP("verbose", "v", false, "log the agents' and emulators' debug output to stderr")
	return c
}
