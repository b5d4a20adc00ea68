package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rsagent/rsagent/agent"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "rsagent",
		Short:         "Health-gated BGP + BFD speaker for Amazon VPC Route Server, a route-table reconciler, and direct mode (vpc-router's job)",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       agent.Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Flag parsing problems are usage errors: exit 2.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	root.PersistentFlags().StringP("config", "c", agent.DefaultConfigPath, "config file")
	root.AddCommand(newRunCmd(), newConfigCmd(), newStatusCmd(), newDrainCmd(true), newDrainCmd(false),
		newReconcileCmd(), newRouterCmd(), newLambdaCmd(), newLabCmd(), newVersionCmd())
	for _, c := range extraCommands {
		root.AddCommand(c())
	}
	return root
}

// extraCommands are commands that only some builds have (man.go: -tags mangen).
var extraCommands []func() *cobra.Command

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}

// loadConfig maps every config problem to exit code 2.
func loadConfig(cmd *cobra.Command) (*agent.Config, *agent.Model, error) {
	cfg, m, err := agent.LoadFile(configPath(cmd))
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	return cfg, m, nil
}

func newLogger(w io.Writer, m *agent.Model) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	_ = lv.UnmarshalText([]byte(m.Log.Level))
	opts := &slog.HandlerOptions{Level: lv}
	if m.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}

func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the speaker (and the reconciler, if the config has a reconcile section)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, m, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log, level := newLogger(cmd.ErrOrStderr(), m)
			slog.SetDefault(log)
			a, err := agent.New(m, agent.Options{Logger: log, LogLevel: level})
			if err != nil {
				if agent.IsConfigError(err) {
					return usageErr(err)
				}
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			defer onSIGHUP(ctx, func() { reloadWith(a.Reload, a.ReloadFailed, configPath(cmd), log) })()
			if err := a.Run(ctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
}

// onSIGHUP calls reload on every SIGHUP until ctx ends; the returned
// function stops listening.
func onSIGHUP(ctx context.Context, reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
	return func() { signal.Stop(hup) }
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "rsagent", agent.Version)
			return err
		},
	}
}

func outputFlag(cmd *cobra.Command, allowed ...string) (string, error) {
	o, _ := cmd.Flags().GetString("output")
	for _, a := range allowed {
		if o == a {
			return o, nil
		}
	}
	return "", usageErr(fmt.Errorf("--output %q: want one of %v", o, allowed))
}

var errNoReconcile = errors.New("the config has no reconcile section")
