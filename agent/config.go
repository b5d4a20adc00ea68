package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rsagent/rsagent/routetable"
)

// DefaultConfigPath is where `rsagent run` looks without --config.
const DefaultConfigPath = "/etc/rsagent/rsagent.yaml"

// Config is the YAML wire type of rsagent.yaml. Its keys are a public
// contract (docs/config.md); Load fills in defaults and Validate turns it into
// a Model. Addresses and prefixes stay strings here so that `config check`
// prints the file as the user wrote it, and so that every parse error can
// name the field it came from.
type Config struct {
	BGP       BGPConfig        `yaml:"bgp" json:"bgp"`
	BFD       BFDConfig        `yaml:"bfd" json:"bfd"`
	Services  []ServiceConfig  `yaml:"services" json:"services"`
	Reconcile *ReconcileConfig `yaml:"reconcile,omitempty" json:"reconcile,omitempty"`
	Router    *RouterConfig    `yaml:"router,omitempty" json:"router,omitempty"`
	HTTP      HTTPConfig       `yaml:"http" json:"http"`
	Log       LogConfig        `yaml:"log" json:"log"`
}

// BGPConfig is the `bgp` section.
type BGPConfig struct {
	ASN            uint32  `yaml:"asn" json:"asn"`
	RouterID       string  `yaml:"router_id" json:"router_id"`
	LocalAddress   string  `yaml:"local_address" json:"local_address"`
	LocalAddressV6 string  `yaml:"local_address_v6,omitempty" json:"local_address_v6,omitempty"`
	GRPCListen     *string `yaml:"grpc_listen" json:"grpc_listen"`
	// ListenPort, when not 0, accepts sessions from the peers on
	// local_address:listen_port as well as dialling them.
	ListenPort uint16       `yaml:"listen_port" json:"listen_port"`
	Peers      []PeerConfig `yaml:"peers" json:"peers"`
}

// PeerConfig is one Route Server endpoint.
type PeerConfig struct {
	Address  string   `yaml:"address" json:"address"`
	ASN      uint32   `yaml:"asn" json:"asn"`
	Port     uint16   `yaml:"port" json:"port"`
	HoldTime Duration `yaml:"hold_time" json:"hold_time"`
	// ConnectRetry is the pause between connection attempts; it bounds how
	// fast a session comes back after a failure.
	ConnectRetry Duration      `yaml:"connect_retry" json:"connect_retry"`
	BFD          PeerBFDConfig `yaml:"bfd" json:"bfd"`
}

// PeerBFDConfig enables BFD on a peer; unset timers come from bfd.defaults.
type PeerBFDConfig struct {
	Enabled    bool     `yaml:"enabled" json:"enabled"`
	MinTx      Duration `yaml:"min_tx,omitempty" json:"min_tx,omitempty"`
	MinRx      Duration `yaml:"min_rx,omitempty" json:"min_rx,omitempty"`
	Multiplier uint8    `yaml:"multiplier,omitempty" json:"multiplier,omitempty"`
	Passive    *bool    `yaml:"passive,omitempty" json:"passive,omitempty"`
}

// BFDConfig is the `bfd` section.
type BFDConfig struct {
	Port     int            `yaml:"port" json:"port"`
	Defaults BFDTimerConfig `yaml:"defaults" json:"defaults"`
	Strict   bool           `yaml:"strict" json:"strict"`
	// Auth, when set, authenticates every BFD session (RFC 5880 §6.7).
	Auth *BFDAuthConfig `yaml:"auth,omitempty" json:"auth,omitempty"`
}

// BFDTimerConfig holds BFD session timers.
type BFDTimerConfig struct {
	MinTx      Duration `yaml:"min_tx" json:"min_tx"`
	MinRx      Duration `yaml:"min_rx" json:"min_rx"`
	Multiplier uint8    `yaml:"multiplier" json:"multiplier"`
	Passive    bool     `yaml:"passive" json:"passive"`
}

// ServiceConfig is one health-gated service and the prefixes it announces.
type ServiceConfig struct {
	Name            string        `yaml:"name" json:"name"`
	Prefixes        []string      `yaml:"prefixes" json:"prefixes"`
	MED             uint32        `yaml:"med" json:"med"`
	ASPathPrepend   uint8         `yaml:"as_path_prepend" json:"as_path_prepend"`
	WhenUnhealthy   WhenUnhealthy `yaml:"when_unhealthy" json:"when_unhealthy"`
	MaintenanceFile string        `yaml:"maintenance_file,omitempty" json:"maintenance_file,omitempty"`
	Health          HealthConfig  `yaml:"health" json:"health"`
}

// HealthConfig sets how a service's health is judged.
type HealthConfig struct {
	Interval     Duration      `yaml:"interval" json:"interval"`
	FastInterval Duration      `yaml:"fast_interval" json:"fast_interval"`
	Timeout      Duration      `yaml:"timeout" json:"timeout"`
	Rise         int           `yaml:"rise" json:"rise"`
	Fall         int           `yaml:"fall" json:"fall"`
	Checks       []CheckConfig `yaml:"checks" json:"checks"`
}

// CheckConfig is one health check; exactly one kind is set.
type CheckConfig struct {
	TCP  string           `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	HTTP *HTTPCheckConfig `yaml:"http,omitempty" json:"http,omitempty"`
	Exec []string         `yaml:"exec,omitempty" json:"exec,omitempty"`
	File string           `yaml:"file,omitempty" json:"file,omitempty"`
}

// HTTPCheckConfig is an HTTP GET check.
type HTTPCheckConfig struct {
	URL    string `yaml:"url" json:"url"`
	Status int    `yaml:"status" json:"status"`
	Body   string `yaml:"body,omitempty" json:"body,omitempty"`
}

// ReconcileConfig is the `reconcile` section; its presence turns the
// reconciler on inside `rsagent run`.
type ReconcileConfig struct {
	Region            string     `yaml:"region" json:"region"`
	VPCID             string     `yaml:"vpc_id" json:"vpc_id"`
	Endpoint          string     `yaml:"endpoint" json:"endpoint"`
	Interval          Duration   `yaml:"interval" json:"interval"`
	SourceRouteTable  string     `yaml:"source_route_table" json:"source_route_table"`
	TargetRouteTables TableList  `yaml:"target_route_tables" json:"target_route_tables"`
	Origins           []string   `yaml:"origins" json:"origins"`
	Prefixes          []string   `yaml:"prefixes" json:"prefixes"`
	Prune             bool       `yaml:"prune" json:"prune"`
	DryRun            bool       `yaml:"dry_run" json:"dry_run"`
	MutatingRate      RateConfig `yaml:"mutating_rate" json:"mutating_rate"`
	// NetworkInterfaceIDs are this appliance's ENIs; unset means the ENI
	// holding bgp.local_address in `rsagent run`, none (every route counts
	// as our own) in standalone `rsagent reconcile`.
	NetworkInterfaceIDs *[]string     `yaml:"network_interface_ids,omitempty" json:"network_interface_ids,omitempty"`
	DeferOthers         DeferDuration `yaml:"defer_others" json:"defer_others"`
	IgnoreRoutes        []string      `yaml:"ignore_routes" json:"ignore_routes"`
	PropagationTTL      Duration      `yaml:"propagation_ttl" json:"propagation_ttl"`
	Notify              NotifyConfig  `yaml:"notify" json:"notify"`
	SyncRoutes          SyncAPIConfig `yaml:"sync_routes_api" json:"sync_routes_api"`
}

// RateConfig is a token bucket.
type RateConfig struct {
	Burst     int     `yaml:"burst" json:"burst"`
	PerSecond float64 `yaml:"per_second" json:"per_second"`
}

// applyMutatingDefaults fills EC2's default mutating bucket (50, 5/s), the
// one default of reconcile.mutating_rate and router.mutating_rate.
func (r *RateConfig) applyMutatingDefaults() {
	if r.Burst == 0 {
		r.Burst = routetable.DefaultMutatingBurst
	}
	if r.PerSecond == 0 {
		r.PerSecond = routetable.DefaultMutatingPerSecond
	}
}

// NotifyConfig lists optional change notification sinks.
type NotifyConfig struct {
	Webhook     string `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	SNSTopicARN string `yaml:"sns_topic_arn,omitempty" json:"sns_topic_arn,omitempty"`
}

// SyncAPIConfig limits the Sync Routes-compatible API.
type SyncAPIConfig struct {
	Rate RateConfig `yaml:"rate" json:"rate"`
}

// HTTPConfig is the `http` section.
type HTTPConfig struct {
	Listen     *string `yaml:"listen" json:"listen"`
	APIKeyFile string  `yaml:"api_key_file" json:"api_key_file"`
}

// LogConfig is the `log` section.
type LogConfig struct {
	Level  string `yaml:"level" json:"level"`
	Format string `yaml:"format" json:"format"`
}

// Duration is a time.Duration written as a Go duration string ("300ms").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts Go duration strings only; a bare number is an error
// because "3" could mean seconds or milliseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as \"300ms\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use Go syntax: \"300ms\", \"2s\")", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: %q: duration must not be negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DeferDuration is reconcile.defer_others: a Go duration, or `never`.
type DeferDuration struct {
	Never bool
	D     time.Duration
	// Set is false when the key was left out (the default applies).
	Set bool
}

// UnmarshalYAML accepts a Go duration string ("2s", "0s") or `never`.
func (d *DeferDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "never" {
		*d = DeferDuration{Never: true, Set: true}
		return nil
	}
	var v Duration
	if err := v.UnmarshalYAML(n); err != nil {
		return fmt.Errorf("%w, or never", err)
	}
	*d = DeferDuration{D: v.D(), Set: true}
	return nil
}

func (d DeferDuration) wire() string {
	if d.Never {
		return "never"
	}
	return d.D.String()
}

// MarshalYAML writes the duration or `never`.
func (d DeferDuration) MarshalYAML() (any, error) { return d.wire(), nil }

// MarshalJSON writes the duration or "never".
func (d DeferDuration) MarshalJSON() ([]byte, error) { return json.Marshal(d.wire()) }

// WhenUnhealthy says what a service advertises while unhealthy: nothing
// (withdraw), or its prefixes with a worse MED and/or a longer AS path.
type WhenUnhealthy struct {
	Withdraw      bool
	MED           *uint32
	ASPathPrepend *uint8
}

type whenUnhealthyMap struct {
	MED           *uint32 `yaml:"med"`
	ASPathPrepend *uint8  `yaml:"as_path_prepend"`
}

// UnmarshalYAML accepts `withdraw` or a map with med and/or as_path_prepend.
func (w *WhenUnhealthy) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "withdraw" {
			return fmt.Errorf("line %d: %q: want withdraw, {med: N} or {as_path_prepend: N}", n.Line, n.Value)
		}
		*w = WhenUnhealthy{Withdraw: true}
		return nil
	case yaml.MappingNode:
		var m whenUnhealthyMap
		if err := decodeStrict(n, &m); err != nil {
			return err
		}
		if m.MED == nil && m.ASPathPrepend == nil {
			return fmt.Errorf("line %d: want withdraw, {med: N} or {as_path_prepend: N}", n.Line)
		}
		*w = WhenUnhealthy{MED: m.MED, ASPathPrepend: m.ASPathPrepend}
		return nil
	}
	return fmt.Errorf("line %d: want withdraw, {med: N} or {as_path_prepend: N}", n.Line)
}

func (w WhenUnhealthy) wire() any {
	if w.Withdraw || (w.MED == nil && w.ASPathPrepend == nil) {
		return "withdraw"
	}
	return whenUnhealthyMapOut{MED: w.MED, ASPathPrepend: w.ASPathPrepend}
}

type whenUnhealthyMapOut struct {
	MED           *uint32 `yaml:"med,omitempty" json:"med,omitempty"`
	ASPathPrepend *uint8  `yaml:"as_path_prepend,omitempty" json:"as_path_prepend,omitempty"`
}

// MarshalYAML writes `withdraw` or the map form.
func (w WhenUnhealthy) MarshalYAML() (any, error) { return w.wire(), nil }

// MarshalJSON writes "withdraw" or the map form.
func (w WhenUnhealthy) MarshalJSON() ([]byte, error) { return json.Marshal(w.wire()) }

// TableList is `auto` or a list of route table ids.
type TableList struct {
	Auto bool
	IDs  []string
}

// UnmarshalYAML accepts `auto` or a sequence of ids.
func (t *TableList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "auto" {
			return fmt.Errorf("line %d: %q: want auto or a list of route table ids", n.Line, n.Value)
		}
		*t = TableList{Auto: true}
		return nil
	case yaml.SequenceNode:
		var ids []string
		if err := n.Decode(&ids); err != nil {
			return err
		}
		*t = TableList{IDs: ids}
		return nil
	}
	return fmt.Errorf("line %d: want auto or a list of route table ids", n.Line)
}

func (t TableList) wire() any {
	if t.Auto || t.IDs == nil {
		return "auto"
	}
	return t.IDs
}

// MarshalYAML writes `auto` or the list.
func (t TableList) MarshalYAML() (any, error) { return t.wire(), nil }

// MarshalJSON writes "auto" or the list.
func (t TableList) MarshalJSON() ([]byte, error) { return json.Marshal(t.wire()) }

// ConfigError is a configuration problem; Problems each name a field path.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid config: " + e.Problems[0]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "invalid config (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}

// IsConfigError reports whether err is (or wraps) a configuration error, which
// the CLI maps to exit code 2.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// LoadFile reads, decodes, defaults and validates a config file.
func LoadFile(path string) (*Config, *Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &ConfigError{Problems: []string{fmt.Sprintf("read %s: %v", path, err)}}
	}
	return Load(data)
}

// Load decodes YAML strictly, fills in defaults and validates. The returned
// Config is the effective config (defaults filled in).
func Load(data []byte) (*Config, *Model, error) {
	cfg, err := Decode(data)
	if err != nil {
		return nil, nil, err
	}
	cfg.ApplyDefaults()
	m, err := cfg.Validate()
	if err != nil {
		return cfg, nil, err
	}
	return cfg, m, nil
}

// Decode parses YAML into a Config without defaults or validation. Unknown
// keys and type mismatches are errors that name the field path.
func Decode(data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &ConfigError{Problems: []string{"the config file is empty"}}
	}
	var cfg Config
	if err := decodeStrict(&root, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// YAML renders the (effective) config.
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
