package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rsagent/rsagent/agent"
)

func newConfigCmd() *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Work with the config file"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the config file and print the effective config (defaults filled in)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := outputFlag(cmd, "table", "json", "yaml")
			if err != nil {
				return err
			}
			c, m, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch out {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(c)
			default:
				y, err := c.YAML()
				if err != nil {
					return err
				}
				if out == "table" {
					fmt.Fprintf(w, "# %s: OK (%d peers, %d services, reconcile %s, router %s)\n", configPath(cmd),
						len(m.BGP.Peers), len(m.Services), onOff(m.Reconcile != nil), onOff(m.Router != nil))
				}
				_, err = w.Write(y)
				return err
			}
		},
	}
	check.Flags().StringP("output", "o", "table", "output format: table (effective YAML with a summary), yaml or json")
	cfg.AddCommand(check)
	return cfg
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// endpoint finds the agent's HTTP address and API key: flags first, then the
// config file, then the default.
func endpoint(cmd *cobra.Command) (base string, keyFile string) {
	addr, _ := cmd.Flags().GetString("addr")
	keyFile, _ = cmd.Flags().GetString("api-key-file")
	if addr == "" || keyFile == "" {
		if c, err := agent.Decode(mustRead(configPath(cmd))); err == nil {
			c.ApplyDefaults()
			if addr == "" && c.HTTP.Listen != nil && *c.HTTP.Listen != "" {
				addr = *c.HTTP.Listen
			}
			if keyFile == "" {
				keyFile = c.HTTP.APIKeyFile
			}
		}
	}
	if addr == "" {
		addr = "127.0.0.1:9179"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/"), keyFile
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func addEndpointFlags(c *cobra.Command, withKey bool) {
	c.Flags().String("addr", "", "agent HTTP address (default: http.listen from the config, else 127.0.0.1:9179)")
	if withKey {
		c.Flags().String("api-key-file", "", "file holding the API key (default: http.api_key_file from the config)")
	}
}

func newStatusCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Show peers, BFD, services and the reconciler of a running agent (or the hosts and routes of a router)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := outputFlag(cmd, "table", "json")
			if err != nil {
				return err
			}
			base, _ := endpoint(cmd)
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("is rsagent running? %w", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s/status: %s: %s", base, resp.Status, bytes.TrimSpace(body))
			}
			if out == "json" {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var st agent.Status
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("decode status: %w", err)
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	c.Flags().StringP("output", "o", "table", "output format: table or json")
	addEndpointFlags(c, false)
	return c
}

func printStatus(w io.Writer, st agent.Status) error {
	if st.Router != nil {
		return printRouterStatus(w, st)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rsagent %s, up %s, ready %v\n\n", st.Version, (time.Duration(st.UptimeSeconds) * time.Second).String(), st.Ready)
	fmt.Fprintln(tw, "PEER\tASN\tBGP\tUPTIME\tADV\tRCV\tBFD\tTX\tDETECT\tDIAG (LOCAL/REMOTE)")
	for _, p := range st.Peers {
		bfdState, tx, detect, diag := "-", "-", "-", "-"
		if b := p.BFD; b != nil {
			bfdState = b.State
			tx = fmt.Sprintf("%gms", b.TxIntervalMs)
			detect = fmt.Sprintf("%gms", b.DetectTimeMs)
			diag = b.LocalDiag + "/" + b.RemoteDiag
		}
		up := "-"
		if p.UptimeSeconds > 0 {
			up = (time.Duration(p.UptimeSeconds) * time.Second).String()
		}
		state := p.State
		if p.HeldDown != "" {
			state += " (held: " + p.HeldDown + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Address, p.ASN, state, up,
			p.PrefixesAdvertised, p.PrefixesReceived, bfdState, tx, detect, diag)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tPREFIX\tANNOUNCED\tMED\tPREPEND\tREASON")
	for _, s := range st.Services {
		state := s.State
		if s.Drained {
			state += " (drained)"
		} else if s.Maintenance {
			state += " (maintenance)"
		}
		for _, p := range s.Prefixes {
			ann := "withdrawn"
			if p.Advertised {
				ann = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Name, state, p.Prefix, ann, p.MED, p.ASPathPrepend, s.Reason)
		}
	}
	if r := st.Reconcile; r != nil {
		fmt.Fprintf(tw, "\nreconcile: last pass %s: %s (%d changes, %d passes, %d consecutive failures) %s\n",
			r.LastPass.Format(time.RFC3339), r.LastResult, r.LastChanges, r.Passes, r.ConsecutiveFailures, r.LastError)
		own := fmt.Sprint(r.NetworkInterfaceIDs)
		if r.OwnsEveryRoute {
			own = "every route"
		}
		fmt.Fprintf(tw, "  own: %s; left to their owners: %d; EC2 write rate %.2f/s; %d writes, %d throttled since start\n",
			own, r.DeferredRoutes, r.MutatingRatePerSecond, r.Writes, r.Throttled)
		for _, d := range r.Drift {
			fmt.Fprintf(tw, "  out of step: %s %s: %s; %s\n", d.Table, d.Destination, d.Reason, d.Handling)
		}
	}
	return tw.Flush()
}

func newDrainCmd(drain bool) *cobra.Command {
	use, short, path := "drain [service]", "Withdraw a service's prefixes (all services without an argument); sessions stay up", "/v1/drain"
	if !drain {
		use, short, path = "undrain [service]", "Undo drain: the service is announced again once its checks pass (rise)", "/v1/undrain"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, keyFile := endpoint(cmd)
			if keyFile == "" {
				return usageErr(errors.New("no API key: set http.api_key_file in the config or pass --api-key-file (or use the service's maintenance_file)"))
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return usageErr(fmt.Errorf("read API key: %w", err))
			}
			timeout, _ := cmd.Flags().GetDuration("timeout")
			if timeout <= 0 || timeout > 5*time.Minute {
				return usageErr(fmt.Errorf("--timeout %s: want more than 0s and at most 5m", timeout))
			}
			q := neturl.Values{"timeout": {timeout.String()}}
			if len(args) == 1 {
				q.Set("service", args[0])
			}
			url := base + path + "?" + q.Encode()
			// The agent answers within timeout; a little more for the
			// round trip.
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
			req.Header.Set(agent.APIKeyHeader, strings.TrimSpace(string(key)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("is rsagent running? %w", err)
			}
			defer resp.Body.Close()
			var dr agent.DrainResponse
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err := json.Unmarshal(body, &dr); err != nil || resp.StatusCode != http.StatusOK {
				err := fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
				if dr.Error != "" {
					err = fmt.Errorf("%s: %s", resp.Status, dr.Error)
				}
				if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
					return usageErr(err)
				}
				return err
			}
			for _, w := range dr.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			verb := "undrained"
			switch {
			case drain && len(dr.Withdrawn) > 0:
				verb = "drained; every peer acknowledged the withdrawal of " + strings.Join(dr.Withdrawn, ", ")
			case drain:
				verb = "drained (nothing was announced)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", strings.Join(dr.Services, ", "), verb)
			return nil
		},
	}
	addEndpointFlags(c, true)
	if drain {
		c.Flags().Duration("timeout", 5*time.Second, "how long to wait for every peer to acknowledge the withdrawal; exit 1 if they do not")
	} else {
		c.Flags().Duration("timeout", 5*time.Second, "how long the request may take")
	}
	return c
}

func newReconcileCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "reconcile",
		Short: "Copy Route Server routes from the main route table into tables without propagation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := outputFlag(cmd, "table", "json")
			if err != nil {
				return err
			}
			_, m, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if m.Reconcile == nil {
				return usageErr(errNoReconcile)
			}
			if m.Router != nil {
				return usageErr(errors.New("router: `rsagent reconcile` does not run direct mode; give the router a config file of its own (`rsagent router`)"))
			}
			once, _ := cmd.Flags().GetBool("once")
			dry, _ := cmd.Flags().GetBool("dry-run")
			log, _ := newLogger(cmd.ErrOrStderr(), m)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if !once {
				if err := agent.RunReconciler(ctx, m, log, dry); err != nil {
					if agent.IsConfigError(err) {
						return usageErr(err)
					}
					return &exitError{code: 1, err: err}
				}
				return nil
			}
			rec, err := agent.NewReconciler(ctx, m.Reconcile, log, dry)
			if err != nil {
				return err
			}
			res, err := rec.RunOnce(ctx)
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if e := enc.Encode(res); e != nil {
					return e
				}
			} else if e := res.WriteText(cmd.OutOrStdout()); e != nil {
				return e
			}
			return err
		},
	}
	c.Flags().Bool("once", false, "run one pass and exit (exit 1 if it failed)")
	c.Flags().Bool("dry-run", false, "plan and call EC2 with DryRun=true; write nothing")
	c.Flags().StringP("output", "o", "table", "output format for --once: table or json")
	return c
}
