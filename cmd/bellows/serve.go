package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/server"
)

func serveCmd() *cobra.Command {
	var addr, dataDir, tables, certFile, keyFile, usersFile, logFormat, logLevel string
	var parallelism, workers int
	var memLimit string
	c := &cobra.Command{
		Use:   "serve",
		Short: "serve SQL over Arrow Flight SQL (gRPC) on an embedded engine",
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			hopts := &slog.HandlerOptions{Level: level}
			var handler slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
			if logFormat == "json" {
				handler = slog.NewJSONHandler(os.Stderr, hopts)
			}
			log := slog.New(handler)
			cfg := server.Config{Log: log}
			if (certFile == "") != (keyFile == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			if certFile != "" {
				tc, err := server.LoadTLS(certFile, keyFile)
				if err != nil {
					return err
				}
				cfg.TLS = tc
			}
			if usersFile != "" {
				u, err := server.LoadUsers(usersFile)
				if err != nil {
					return err
				}
				cfg.Users = u
			}
			opts := bellows.Options{DataDir: dataDir, Parallelism: parallelism, Allocator: bellows.PooledAllocator(), Workers: workers}
			if memLimit != "" {
				n, err := bellows.ParseBytes(memLimit)
				if err != nil {
					return fmt.Errorf("--memory-limit: %w", err)
				}
				opts.MemoryLimit = n
			}
			db, err := bellows.Open(opts)
			if err != nil {
				return err
			}
			defer db.Close()
			if tables != "" {
				if err := db.RegisterDir(tables); err != nil {
					return err
				}
			}
			srv, err := server.New(db, cfg)
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			return serveUntilDone(cmd.Context(), srv, lis, log)
		},
	}
	c.Flags().StringVar(&addr, "addr", ":32010", "address to listen on")
	c.Flags().StringVar(&dataDir, "data-dir", "", "data directory for managed tables and the catalog (default: temporary)")
	c.Flags().StringVar(&tables, "tables", "", "folder whose NAME.parquet files and NAME/ folders become tables")
	c.Flags().StringVar(&certFile, "tls-cert", "", "PEM certificate (chain) to serve TLS with")
	c.Flags().StringVar(&keyFile, "tls-key", "", "PEM private key of --tls-cert")
	c.Flags().StringVar(&usersFile, "users", "", `credentials file: lines "user NAME password SECRET" or "token NAME SECRET" (default: no authentication)`)
	c.Flags().IntVar(&parallelism, "parallelism", 0, "default drivers per pipeline (0: number of cores)")
	c.Flags().IntVar(&workers, "workers", 0, "run queries on N in-process workers over loopback gRPC (0: the single-node engine)")
	c.Flags().StringVar(&memLimit, "memory-limit", "", "default per-query memory limit, e.g. 4GB (default: none)")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug (every statement and connection), info, warn, error")
	return c
}

// serveUntilDone serves Flight SQL on lis until ctx ends (SIGINT or
// SIGTERM), then cancels the running queries, lets the calls in flight
// answer and gives up on stragglers after 10 s.
func serveUntilDone(ctx context.Context, srv *server.Server, lis net.Listener, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		log.Warn("calls still open after 10s, closing them")
		srv.Stop()
	}
	if err := <-served; err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
