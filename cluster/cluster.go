// Package cluster is node membership and node-to-node security: every
// node (coordinator or worker) gossips through hashicorp/memberlist on its
// own port, carrying its role and gRPC address as node metadata; a lost
// node is noticed within about 2 seconds. A shared cluster token encrypts
// the gossip (a node without it cannot join) and is checked on every
// node-to-node gRPC call, which TLS can encrypt (Security).
package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Roles of nodes.
const (
	RoleCoordinator = "coordinator"
	RoleWorker      = "worker"
)

// Meta is what a node tells the others about itself.
type Meta struct {
	Role   string `json:"role"`
	RPC    string `json:"rpc"` // its gRPC (Flight) address
	Cores  int    `json:"cores"`
	Memory int64  `json:"memory"` // bytes of RAM
	GPUs   int    `json:"gpus"`
}

// MemoryBytes returns the machine's RAM (MemTotal of /proc/meminfo), 0
// when unknown.
func MemoryBytes() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// DetectGPUs counts the NVIDIA GPUs the driver lists
// (/proc/driver/nvidia/gpus), 0 without the driver.
func DetectGPUs() int {
	es, err := os.ReadDir("/proc/driver/nvidia/gpus")
	if err != nil {
		return 0
	}
	return len(es)
}

// Config configures a Node.
type Config struct {
	Name   string // unique in the cluster
	Gossip string // HOST:PORT of the memberlist port
	// Meta is announced to the others; zero Cores and Memory are filled
	// from this machine, GPUs < 0 from the NVIDIA driver.
	Meta Meta
	// Token, if set, must be the same on every node: it keys the gossip
	// encryption and authenticates node-to-node gRPC calls.
	Token string
	// Log receives memberlist's log (nil: discarded).
	Log io.Writer
}

// Node is this process's membership in the cluster. Safe for concurrent
// use.
type Node struct {
	ml   *memberlist.Memberlist
	meta []byte
}

// Start begins gossiping; Join then connects to the cluster.
func Start(cfg Config) (*Node, error) {
	host, portStr, err := net.SplitHostPort(cfg.Gossip)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.Gossip, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.Gossip, err)
	}
	if cfg.Meta.Cores == 0 {
		cfg.Meta.Cores = runtime.GOMAXPROCS(0)
	}
	if cfg.Meta.Memory == 0 {
		cfg.Meta.Memory = MemoryBytes()
	}
	if cfg.Meta.GPUs < 0 {
		cfg.Meta.GPUs = DetectGPUs()
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	n := &Node{meta: meta}
	mc := memberlist.DefaultLocalConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	// Notice a lost node within about 2 s: probe every 200 ms, suspect
	// for 2 x log(N+1) probe intervals.
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.SuspicionMult = 2
	mc.GossipInterval = 50 * time.Millisecond
	mc.Delegate = n
	if cfg.Token != "" {
		key := sha256.Sum256([]byte("bellows cluster token\x00" + cfg.Token))
		mc.SecretKey = key[:]
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	out := cfg.Log
	if out == nil {
		out = io.Discard
	}
	mc.Logger = log.New(out, "memberlist: ", log.LstdFlags)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Gossip, err)
	}
	n.ml = ml
	return n, nil
}

// Join contacts the nodes at addrs (gossip addresses); it fails if none
// answers (or none accepts this node's token).
func (n *Node) Join(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	if _, err := n.ml.Join(addrs); err != nil {
		return fmt.Errorf("join %v: %w (is the cluster token the same?)", addrs, err)
	}
	return nil
}

// Leave tells the others this node goes, then stops gossiping.
func (n *Node) Leave() {
	n.ml.Leave(time.Second)
	n.ml.Shutdown()
}

// Members returns the live nodes of a role ("": all), sorted by name.
func (n *Node) Members(role string) []Member {
	var out []Member
	for _, m := range n.ml.Members() {
		var meta Meta
		if json.Unmarshal(m.Meta, &meta) != nil {
			continue
		}
		if role == "" || meta.Role == role {
			out = append(out, Member{Name: m.Name, Meta: meta})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Member is a live node.
type Member struct {
	Name string
	Meta Meta
}

// NodeMeta implements memberlist.Delegate.
func (n *Node) NodeMeta(limit int) []byte { return n.meta }

// NotifyMsg implements memberlist.Delegate.
func (n *Node) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (n *Node) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (n *Node) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (n *Node) MergeRemoteState(buf []byte, join bool) {}

// --- node-to-node gRPC security ---

const tokenHeader = "bellows-cluster-token"

// Security is how nodes trust each other's gRPC calls: the shared token,
// sent with every call and checked by every server, and optionally TLS
// (LoadTLS), under which nodes present certificates signed by the
// cluster's CA and check each other's. The zero value trusts everyone
// over plaintext. Read-only once built; safe for concurrent use.
type Security struct {
	Token string
	// TLS, if set, encrypts node-to-node gRPC.
	TLS *TLS
}

// TLS holds one node's certificate and the CA that signs every node's.
type TLS struct {
	cert tls.Certificate
	ca   *x509.CertPool
}

// LoadTLS reads a node's PEM certificate (chain) and key and the PEM CA
// certificate(s) that sign the cluster's nodes; errors name the file.
func LoadTLS(certFile, keyFile, caFile string) (*TLS, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("cluster TLS needs a certificate, its key and the CA (--tls-cert, --tls-key, --tls-ca)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", caFile)
	}
	return &TLS{cert: cert, ca: pool}, nil
}

// ServerConfig is the TLS configuration a node serves with. With
// requireClientCert, callers must present a certificate the CA signed
// (workers: only nodes call them); without, a certificate is checked if
// given (the coordinator also serves SQL clients, who log in as users).
func (t *TLS) ServerConfig(requireClientCert bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{Certificates: []tls.Certificate{t.cert}, ClientCAs: t.ca, ClientAuth: auth, MinVersion: tls.VersionTLS12}
}

// ClientConfig is the TLS configuration a node dials others with: it
// trusts only the cluster's CA and presents its own certificate.
func (t *TLS) ClientConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{t.cert}, RootCAs: t.ca, MinVersion: tls.VersionTLS12}
}

// HasToken reports whether an incoming call carries the cluster token
// (always true when token is "").
func HasToken(ctx context.Context, token string) bool {
	if token == "" {
		return true
	}
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(tokenHeader)
	return len(v) == 1 && subtle.ConstantTimeCompare([]byte(v[0]), []byte(token)) == 1
}

// ServerOptions returns the gRPC server options of a worker: TLS that
// requires a cluster certificate (when set), and a check of the token on
// every call (when set).
func (s Security) ServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.TLS.ServerConfig(true))))
	}
	token := s.Token
	if token == "" {
		return opts
	}
	check := func(ctx context.Context) error {
		if !HasToken(ctx, token) {
			return status.Error(codes.Unauthenticated, "missing or wrong cluster token")
		}
		return nil
	}
	return append(opts,
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
}

// DialOptions returns the options of a node's calls to other nodes: its
// transport (TLS or plaintext) and the token.
func (s Security) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if s.TLS != nil {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(s.TLS.ClientConfig()))
	}
	if s.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(s.Token)))
	}
	return opts
}

type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{tokenHeader: string(t)}, nil
}
func (t tokenCreds) RequireTransportSecurity() bool { return false }
