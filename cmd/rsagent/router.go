package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rsagent/rsagent/agent"
)

// vpcRouterFlags maps vpc-router's long options (after `_` → `-`) to ours,
// so that a vpc-router command line keeps working.
var vpcRouterFlags = map[string]string{
	"file":                   "route-spec",
	"vpc":                    "vpc-id",
	"tcp-check-port":         "tcp-port",
	"tcp-check-interval":     "check-interval",
	"icmp-check-interval":    "check-interval",
	"route-recheck-interval": "interval",
}

func normalizeRouterFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	if ours, ok := vpcRouterFlags[name]; ok {
		name = ours
	}
	return pflag.NormalizedName(name)
}

// seconds is a duration flag that also takes a bare number of seconds, as
// vpc-router's --tcp_check_interval 5 does.
type seconds struct{ d *time.Duration }

// String is "" for zero, so that help shows the default from the usage
// text rather than "0s".
func (s seconds) String() string {
	if s.d == nil || *s.d == 0 {
		return ""
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is neither a duration (500ms, 2s) nor a number of seconds", v)
	}
	*s.d = d
	return nil
}

func (s seconds) Type() string { return "duration" }

// routerFlags are the flag form of `rsagent router`.
type routerFlags struct {
	specFile, region, vpcID, endpoint, mode, health, multi string
	routes, tables, ignore                                 []string
	interval, checkInterval, checkTimeout, failedHold      time.Duration
	bfdMinTx, bfdMinRx                                     time.Duration
	fall, tcpPort, httpPort, httpStatus, bfdMult           int
	httpPath, bfdLocal, listen, apiKeyFile, logLevel       string
	address, logFile                                       string
	port                                                   int
	icmp, bfd, preempt, removeUnlisted, dryRun, verbose    bool
}

func addRouterFlags(c *cobra.Command, f *routerFlags) {
	fl := c.Flags()
	fl.SetNormalizeFunc(normalizeRouterFlag)
	fl.StringVarP(&f.specFile, "route-spec", "f", "", "route spec file in vpc-router's JSON format (watched); vpc-router: -f/--file")
	fl.StringArrayVar(&f.routes, "route", nil, "inline route, CIDR=HOST[,HOST...] (repeat it); vpc-router's fixedconf")
	fl.StringVarP(&f.region, "region", "r", "", "AWS Region of the VPC")
	fl.StringVarP(&f.vpcID, "vpc-id", "v", "", "the VPC; vpc-router: -v/--vpc")
	fl.StringVar(&f.endpoint, "endpoint", "", "EC2 endpoint override")
	fl.StringVarP(&f.mode, "mode", "m", "", "vpc-router's mode: configfile (needs --route-spec), http (POST /route_spec only) or fixedconf (needs --route); inferred when unset")
	fl.StringSliceVar(&f.tables, "route-tables", nil, "route table ids to manage (default: every table of the VPC)")
	fl.Var(seconds{&f.interval}, "interval", "time between passes over the route tables (default 5s); vpc-router: --route_recheck_interval")
	fl.StringVarP(&f.health, "health", "H", "", "vpc-router's health plugin: icmpecho, tcp or multi (default: from the check flags, else icmpecho)")
	fl.StringVar(&f.multi, "multi-plugins", "", "with --health multi: plugins joined by ':', e.g. icmpecho:tcp")
	fl.IntVar(&f.tcpPort, "tcp-port", 0, "tcp check on this port; vpc-router: --tcp_check_port")
	fl.BoolVar(&f.icmp, "icmp", false, "icmp check (the default when no other check is given)")
	fl.IntVar(&f.httpPort, "http-port", 0, "http check on this port")
	fl.StringVar(&f.httpPath, "http-path", "/", "path of the http check")
	fl.IntVar(&f.httpStatus, "http-status", 200, "expected status of the http check")
	fl.BoolVar(&f.bfd, "bfd", false, "bfd check: a BFD session to every host (which runs a BFD responder)")
	fl.DurationVar(&f.bfdMinTx, "bfd-min-tx", 0, "bfd desired min TX (default 300ms)")
	fl.DurationVar(&f.bfdMinRx, "bfd-min-rx", 0, "bfd required min RX (default 300ms)")
	fl.IntVar(&f.bfdMult, "bfd-multiplier", 0, "bfd detection multiplier (default 3)")
	fl.StringVar(&f.bfdLocal, "bfd-local-address", "", "source address of the BFD sessions (default: any)")
	fl.Var(seconds{&f.checkInterval}, "check-interval", "time between check rounds of a host (default 2s); vpc-router: --tcp_check_interval/--icmp_check_interval")
	fl.Var(seconds{&f.checkTimeout}, "check-timeout", "per-check timeout (default min(1s, check interval))")
	fl.IntVar(&f.fall, "fall", 0, "failed rounds in a row that fail a host (default 2)")
	fl.Var(seconds{&f.failedHold}, "failed-hold", "how long a failed host stays ineligible after its last failure (default 10 x check interval)")
	fl.BoolVar(&f.preempt, "preempt", false, "return to the first listed host once it is eligible again")
	fl.StringSliceVar(&f.ignore, "ignore-routes", nil, "CIDRs (or addresses) never touched; vpc-router: --ignore_routes")
	fl.BoolVar(&f.removeUnlisted, "remove-unlisted", false, "delete ENI routes that are not in the spec (vpc-router's behaviour)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "plan and call EC2 with DryRun=true; write nothing")
	fl.StringVar(&f.listen, "listen", "", "HTTP address for /status, /metrics and /route_spec (default 127.0.0.1:9179)")
	fl.StringVarP(&f.address, "address", "a", "", "vpc-router's -a: the HTTP address (with -p; prefer --listen)")
	fl.IntVarP(&f.port, "port", "p", 0, "vpc-router's -p: the HTTP port (with -a; prefer --listen)")
	fl.StringVarP(&f.logFile, "logfile", "l", "", "vpc-router's -l: only '-' is accepted; rsagent logs to stderr (the journal)")
	fl.StringVar(&f.apiKeyFile, "api-key-file", "", "API key file for POST /route_spec")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fl.BoolVar(&f.verbose, "verbose", false, "same as --log-level debug")
}

// routerFlagNames are the flags that select the flag form.
func usedFlagForm(c *cobra.Command) []string {
	var used []string
	c.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "print-config" {
			used = append(used, "--"+f.Name)
		}
	})
	return used
}

// config turns the flag form into the YAML a user would write: the flag
// form runs exactly what the config file would.
func (f *routerFlags) config() (*agent.Config, error) {
	rc := &agent.RouterConfig{Region: f.region, VPCID: f.vpcID, Endpoint: f.endpoint, Preempt: f.preempt,
		RemoveUnlisted: f.removeUnlisted, DryRun: f.dryRun, IgnoreRoutes: f.ignore,
		Interval: agent.Duration(f.interval)}
	if len(f.tables) > 0 && !(len(f.tables) == 1 && f.tables[0] == "auto") {
		rc.RouteTables = agent.TableList{IDs: f.tables}
	}
	switch f.mode {
	case "", "configfile", "http", "fixedconf":
	default:
		return nil, fmt.Errorf("--mode %q: want configfile, http or fixedconf", f.mode)
	}
	switch {
	case f.mode == "configfile" && f.specFile == "":
		return nil, errors.New("--mode configfile needs --route-spec FILE")
	case f.mode == "fixedconf" && len(f.routes) == 0:
		return nil, errors.New("--mode fixedconf needs --route CIDR=HOST[,HOST...]")
	case f.mode == "http" && (f.specFile != "" || len(f.routes) > 0):
		return nil, errors.New("--mode http takes its spec from POST /route_spec only; drop --route-spec and --route")
	}
	if f.specFile != "" {
		abs, err := filepath.Abs(f.specFile)
		if err != nil {
			return nil, err
		}
		rc.RouteSpecFile = abs
	}
	if len(f.routes) > 0 {
		rc.Routes = map[string][]string{}
		for _, r := range f.routes {
			cidr, hosts, ok := strings.Cut(r, "=")
			if !ok || hosts == "" {
				return nil, fmt.Errorf("--route %q: want CIDR=HOST[,HOST...]", r)
			}
			rc.Routes[strings.TrimSpace(cidr)] = strings.Split(strings.ReplaceAll(hosts, " ", ""), ",")
		}
	}
	checks, err := f.checks()
	if err != nil {
		return nil, err
	}
	rc.Health = agent.RouterHealthConfig{Interval: agent.Duration(f.checkInterval), Timeout: agent.Duration(f.checkTimeout),
		Fall: f.fall, FailedHold: agent.Duration(f.failedHold), Checks: checks}
	cfg := &agent.Config{Router: rc}
	listen, err := f.listenAddr()
	if err != nil {
		return nil, err
	}
	if listen != "" {
		cfg.HTTP.Listen = &listen
	}
	cfg.HTTP.APIKeyFile = f.apiKeyFile
	cfg.Log.Level = f.logLevel
	if f.verbose {
		cfg.Log.Level = "debug"
	}
	return cfg, nil
}

// listenAddr is --listen, or vpc-router's -a/-p.
func (f *routerFlags) listenAddr() (string, error) {
	if f.logFile != "" && f.logFile != "-" {
		return "", fmt.Errorf("--logfile %q: rsagent logs to stderr (the journal under systemd); redirect it if you need a file", f.logFile)
	}
	if f.address == "" && f.port == 0 {
		return f.listen, nil
	}
	if f.listen != "" {
		return "", errors.New("use --listen or -a/-p, not both")
	}
	addr, port := f.address, f.port
	if addr == "" || addr == "localhost" {
		addr = "127.0.0.1"
	}
	if port == 0 {
		port = 9179
	}
	return net.JoinHostPort(addr, strconv.Itoa(port)), nil
}

// checks maps the check flags, and vpc-router's --health/--multi-plugins,
// to the check list.
func (f *routerFlags) checks() ([]agent.RouterCheckConfig, error) {
	if f.bfdMult < 0 || f.bfdMult > 255 {
		return nil, fmt.Errorf("--bfd-multiplier %d: want 1..255", f.bfdMult)
	}
	want := map[string]bool{"icmp": f.icmp, "tcp": f.tcpPort != 0, "http": f.httpPort != 0, "bfd": f.bfd}
	var plugins []string
	switch f.health {
	case "":
	case "multi":
		if f.multi == "" {
			return nil, errors.New("--health multi needs --multi-plugins, e.g. icmpecho:tcp")
		}
		plugins = strings.Split(f.multi, ":")
	default:
		plugins = []string{f.health}
	}
	for _, p := range plugins {
		switch p {
		case "icmpecho", "icmp":
			want["icmp"] = true
		case "tcp":
			if f.tcpPort == 0 {
				return nil, errors.New("the tcp health check needs --tcp-port (vpc-router: --tcp_check_port)")
			}
		default:
			return nil, fmt.Errorf("health plugin %q: rsagent has icmpecho, tcp and multi (and --http-port, --bfd)", p)
		}
	}
	var out []agent.RouterCheckConfig
	if want["icmp"] {
		out = append(out, agent.RouterCheckConfig{ICMP: &agent.RouterICMPCheck{}})
	}
	if want["tcp"] {
		out = append(out, agent.RouterCheckConfig{TCP: &agent.RouterTCPCheck{Port: f.tcpPort}})
	}
	if want["http"] {
		out = append(out, agent.RouterCheckConfig{HTTP: &agent.RouterHTTPCheck{Port: f.httpPort, Path: f.httpPath, Status: f.httpStatus}})
	}
	if want["bfd"] {
		out = append(out, agent.RouterCheckConfig{BFD: &agent.RouterBFDCheck{MinTx: agent.Duration(f.bfdMinTx),
			MinRx: agent.Duration(f.bfdMinRx), Multiplier: uint8(f.bfdMult), LocalAddress: f.bfdLocal}})
	}
	return out, nil // none: the config default (icmp)
}

func newRouterCmd() *cobra.Command {
	var f routerFlags
	c := &cobra.Command{
		Use:   "router",
		Short: "Direct mode: vpc-router's job for VPCs without Route Server (route spec, host health, route tables)",
		Long: "router keeps, for every CIDR of a route spec, the VPC's route tables pointing at one healthy host of\n" +
			"its list. It runs from the config's router section, or without a config file from flags, e.g.\n\n" +
			"  rsagent router --route-spec /etc/rsagent/route-spec.json --region us-east-1 --vpc-id vpc-0123456789abcdef0 --tcp-port 22\n\n" +
			"vpc-router's options work too (-m configfile -f FILE -r REGION -v VPC --health tcp --tcp_check_port 22 ...).\n" +
			"--print-config prints the config file the flags make. See docs/direct-mode.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flagForm := usedFlagForm(cmd)
			printCfg, _ := cmd.Flags().GetBool("print-config")
			var cfg *agent.Config
			var m *agent.Model
			var err error
			if len(flagForm) > 0 {
				if cmd.Flags().Changed("config") {
					return usageErr(fmt.Errorf("use either --config or the flag form (%s), not both", strings.Join(flagForm, " ")))
				}
				if cfg, err = f.config(); err != nil {
					return usageErr(err)
				}
				y, err := cfg.YAML()
				if err != nil {
					return err
				}
				if cfg, m, err = agent.Load(y); err != nil {
					return usageErr(fmt.Errorf("%w (the flags make this config:\n%s)", err, y))
				}
			} else if cfg, m, err = loadConfig(cmd); err != nil {
				return err
			}
			if printCfg {
				y, err := cfg.YAML()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(y)
				return err
			}
			if m.Router == nil {
				return usageErr(errors.New("the config has no router section (see docs/direct-mode.md)"))
			}
			log, level := newLogger(cmd.ErrOrStderr(), m)
			slog.SetDefault(log)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			r, err := agent.NewRouter(ctx, m, agent.Options{Logger: log, LogLevel: level})
			if err != nil {
				if agent.IsConfigError(err) {
					return usageErr(err)
				}
				return err
			}
			defer onSIGHUP(ctx, func() {
				if len(flagForm) > 0 {
					log.Info("SIGHUP: nothing to reload in the flag form (the route spec file is watched)")
					return
				}
				reloadWith(r.Reload, r.ReloadFailed, configPath(cmd), log)
			})()
			if err := r.Run(ctx); err != nil {
				if agent.IsConfigError(err) {
					return usageErr(err)
				}
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	addRouterFlags(c, &f)
	c.Flags().Bool("print-config", false, "print the effective config (from --config or the flags) and exit")
	return c
}

// reloadWith applies the config file again through apply; any problem
// keeps the running config.
func reloadWith(apply func(*agent.Model) error, failed func(), path string, log *slog.Logger) {
	_, m, err := agent.LoadFile(path)
	if err == nil {
		err = apply(m)
	}
	if err != nil {
		failed()
		log.Error("reload rejected; the running config stays", "path", path, "error", err)
		return
	}
	log.Info("config reloaded", "path", path)
}

// printRouterStatus is `rsagent status` against a router.
func printRouterStatus(w io.Writer, st agent.Status) error {
	r := st.Router
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rsagent %s router, up %s, ready %v, vpc %s%s\n", st.Version, (time.Duration(st.UptimeSeconds) * time.Second).String(),
		st.Ready, r.VPCID, map[bool]string{true: " (DRY RUN)"}[r.DryRun])
	src := r.SpecSource
	if r.SpecFile != "" && src == "file" {
		src += " " + r.SpecFile
	}
	last := "never"
	if r.LastPass != nil {
		last = fmt.Sprintf("%s: %s (%d passes, %d consecutive failures)", r.LastPass.Format(time.RFC3339), r.LastResult, r.Passes, r.ConsecutiveFailures)
	}
	fmt.Fprintf(tw, "spec: %d destinations from %s; tables: %s; last pass %s\n", len(r.Spec), orDash(src), strings.Join(r.Tables, " "), last)
	if r.LastError != "" {
		fmt.Fprintf(tw, "last error: %s\n", r.LastError)
	}
	if r.SpecRefused != "" {
		fmt.Fprintf(tw, "last refused spec: %s\n", r.SpecRefused)
	}
	fmt.Fprintln(tw, "\nHOST\tSTATUS\tSINCE\tENI\tLAST ERROR")
	for _, h := range r.Hosts {
		since := "-"
		if !h.Since.IsZero() {
			since = time.Since(h.Since).Round(time.Second).String() + " ago"
		}
		status := string(h.Status)
		if h.Status == "held" || h.Status == "failed" {
			status += " until " + h.HeldUntil.Format(time.TimeOnly)
		}
		eni := orDash(h.ENI)
		if len(h.Problems) > 0 {
			eni += " (" + strings.Join(h.Problems, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Host, status, since, eni, h.LastError)
	}
	fmt.Fprintln(tw, "\nDESTINATION\tSTATE\tTARGET\tTABLE\tCURRENT\tDESIRED\tLAST PASS")
	for _, rp := range r.Routes {
		target := "-"
		if rp.Target.IsValid() {
			target = rp.Target.String() + " " + rp.TargetENI
		}
		for i, t := range rp.Tables {
			dst, state, tgt := rp.Destination.String(), rp.State, target
			if i > 0 {
				dst, state, tgt = "", "", ""
			}
			action := t.Action
			if t.Reason != "" && t.Action != "in_step" {
				action += ": " + t.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dst, state, tgt, t.Table, orDash(t.Current), orDash(t.Desired), action)
		}
	}
	if n := len(r.LastChanges); n > 0 {
		fmt.Fprintln(tw, "\nLAST CHANGES\tTABLE\tDESTINATION\tACTION\tFROM\tTO\tRESULT")
		for _, c := range r.LastChanges[max(0, n-10):] {
			res := c.Result
			if c.Error != "" {
				res += ": " + c.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.At.Format(time.TimeOnly), c.Table, c.Destination, c.Action, orDash(c.PrevENI), orDash(c.ENI), res)
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(tw, "\nWARNING: %s", wn)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
