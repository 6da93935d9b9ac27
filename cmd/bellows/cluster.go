package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/cluster"
	"github.com/bellows-db/bellows/coordinator"
	"github.com/bellows-db/bellows/server"
	"github.com/bellows-db/bellows/worker"
)

// clusterFlags are the flags every cluster node takes.
type clusterFlags struct {
	addr, gossip, join, token, dataDir string
	tlsCert, tlsKey, tlsCA             string
	gpus                               int
}

func (f *clusterFlags) add(c *cobra.Command, defaultAddr string) {
	c.Flags().StringVar(&f.addr, "addr", defaultAddr, "HOST:PORT of this node's gRPC (Flight) service")
	c.Flags().StringVar(&f.gossip, "gossip", "127.0.0.1:7946", "HOST:PORT of this node's memberlist (gossip) port")
	c.Flags().StringVar(&f.join, "join", "", "gossip addresses of nodes already in the cluster, comma separated")
	c.Flags().StringVar(&f.token, "token", os.Getenv("BELLOWS_CLUSTER_TOKEN"), "shared cluster token (default $BELLOWS_CLUSTER_TOKEN); nodes without it cannot join or call")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (default: temporary)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate of this node: node-to-node gRPC (and the coordinator's Flight SQL) use TLS")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	c.Flags().StringVar(&f.tlsCA, "tls-ca", "", "PEM certificate(s) of the CA that signs every node's certificate")
	c.Flags().IntVar(&f.gpus, "gpus", -1, "GPUs this node offers (default: as many as the NVIDIA driver lists)")
}

// security is how this node calls others and checks their calls.
func (f *clusterFlags) security() (cluster.Security, error) {
	sec := cluster.Security{Token: f.token}
	if f.tlsCert == "" && f.tlsKey == "" && f.tlsCA == "" {
		return sec, nil
	}
	t, err := cluster.LoadTLS(f.tlsCert, f.tlsKey, f.tlsCA)
	if err != nil {
		return sec, err
	}
	sec.TLS = t
	return sec, nil
}

func (f *clusterFlags) joinList() []string {
	var out []string
	for _, a := range strings.Split(f.join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// joinCluster listens on the node's gRPC address and joins the cluster
// as role, named name (or role-ADDR); the caller serves on the listener
// and calls node.Leave at the end.
func (f *clusterFlags) joinCluster(role, name string) (net.Listener, *cluster.Node, error) {
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, nil, err
	}
	addr := lis.Addr().String()
	if name == "" {
		name = role + "-" + addr
	}
	node, err := cluster.Start(cluster.Config{Name: name, Gossip: f.gossip, Token: f.token, Meta: cluster.Meta{Role: role, RPC: addr, GPUs: f.gpus}})
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	if err := node.Join(f.joinList()); err != nil {
		node.Leave()
		lis.Close()
		return nil, nil, err
	}
	return lis, node, nil
}

func workerCmd() *cobra.Command {
	var f clusterFlags
	c := &cobra.Command{
		Use:   "worker",
		Short: "run a worker: tasks of distributed queries, found by the coordinator through gossip",
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			sec, err := f.security()
			if err != nil {
				return err
			}
			lis, node, err := f.joinCluster(cluster.RoleWorker, "")
			if err != nil {
				return err
			}
			addr := lis.Addr().String()
			svc := worker.NewService(bellows.PooledAllocator(), sec.DialOptions()...)
			if d := os.Getenv("BELLOWS_TEST_TASK_DELAY"); d != "" {
				// Fault-injection tests: tasks wait before they run.
				if svc.StartDelay, err = time.ParseDuration(d); err != nil {
					return fmt.Errorf("BELLOWS_TEST_TASK_DELAY: %w", err)
				}
			}
			g := grpc.NewServer(sec.ServerOptions()...)
			svc.Register(g)
			served := make(chan error, 1)
			go func() { served <- g.Serve(lis) }()
			log.Info("worker ready", "addr", addr, "gossip", f.gossip)
			select {
			case err := <-served:
				node.Leave()
				return err
			case <-cmd.Context().Done():
			}
			log.Info("shutting down")
			node.Leave()
			svc.Close()
			g.Stop()
			log.Info("stopped")
			return nil
		},
	}
	f.add(c, "127.0.0.1:32011")
	return c
}

func coordinatorCmd() *cobra.Command {
	var f clusterFlags
	var nodeID, tables string
	c := &cobra.Command{
		Use:   "coordinator",
		Short: "run a coordinator: Flight SQL for clients, queries cut into stages and run on the workers",
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			sec, err := f.security()
			if err != nil {
				return err
			}
			lis, node, err := f.joinCluster(cluster.RoleCoordinator, nodeID)
			if err != nil {
				return err
			}
			defer node.Leave()
			addr := lis.Addr().String()
			sched := coordinator.NewScheduler(addr, bellows.PooledAllocator(), sec.DialOptions()...)
			defer sched.Close()
			workers := func() []string {
				var out []string
				for _, m := range node.Members(cluster.RoleWorker) {
					out = append(out, m.Meta.RPC)
				}
				return out
			}
			nodes := func() []bellows.NodeInfo {
				var out []bellows.NodeInfo
				for _, m := range node.Members("") {
					out = append(out, bellows.NodeInfo{Name: m.Name, Role: m.Meta.Role, Addr: m.Meta.RPC,
						Cores: m.Meta.Cores, Memory: m.Meta.Memory, GPUs: m.Meta.GPUs})
				}
				return out
			}
			db, err := bellows.Open(bellows.Options{DataDir: f.dataDir, Allocator: bellows.PooledAllocator(),
				Remote: &bellows.RemoteCluster{Scheduler: sched, Workers: workers, Nodes: nodes}})
			if err != nil {
				return err
			}
			defer db.Close()
			if tables != "" {
				if err := db.RegisterDir(tables); err != nil {
					return err
				}
			}
			token := f.token
			var serverTLS *tls.Config
			if sec.TLS != nil {
				serverTLS = sec.TLS.ServerConfig(false) // SQL clients need no certificate
			}
			srv, err := server.New(db, server.Config{Log: log, TLS: serverTLS,
				// Workers claim splits here with the cluster token, not a user.
				Unauthenticated: func(ctx context.Context, method string) bool {
					return token != "" && cluster.HasToken(ctx, token)
				},
				Actions: func(a *flight.Action, stream flight.FlightService_DoActionServer) (bool, error) {
					if a.Type != worker.ActionClaimSplit {
						return false, nil
					}
					if !cluster.HasToken(stream.Context(), token) {
						return true, status.Error(codes.Unauthenticated, "missing or wrong cluster token")
					}
					return true, sched.DoAction(a, stream)
				}})
			if err != nil {
				return err
			}
			log.Info("coordinator ready", "addr", addr, "gossip", f.gossip)
			return serveUntilDone(cmd.Context(), srv, lis, log)
		},
	}
	f.add(c, "127.0.0.1:32010")
	c.Flags().StringVar(&nodeID, "node-id", "", "this coordinator's name in the cluster (default: from --addr)")
	c.Flags().StringVar(&tables, "tables", "", "folder whose NAME.parquet files and NAME/ folders become tables (every node must see the same paths)")
	return c
}
