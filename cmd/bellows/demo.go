package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/tpch"
)

func demoCmd() *cobra.Command {
	var sf float64
	c := &cobra.Command{
		Use:   "demo",
		Short: "generate a small TPC-H data set, run a few queries, show a plan and timings",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "bellows-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			data := filepath.Join(dir, "tpch")
			fmt.Printf("Generating TPC-H at scale factor %g into %s ...\n", sf, data)
			t0 := time.Now()
			if err := tpch.Generate(ctx, tpch.GenOptions{SF: sf, OutDir: data, Progress: os.Stderr}); err != nil {
				return err
			}
			fmt.Printf("generated in %s\n\n", time.Since(t0).Round(time.Millisecond))
			db, err := bellows.Open(bellows.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RegisterDir(data); err != nil {
				return err
			}
			for _, n := range []int{1, 3, 6} {
				q, err := tpch.Query(n)
				if err != nil {
					return err
				}
				fmt.Printf("-- TPC-H Q%d\n", n)
				t0 := time.Now()
				if err := runScript(ctx, newEmbedded(db), q, "table", os.Stdout, false); err != nil {
					return fmt.Errorf("Q%d: %w", n, err)
				}
				fmt.Printf("Q%d took %s\n\n", n, time.Since(t0).Round(time.Microsecond))
			}
			q3, _ := tpch.Query(3)
			fmt.Println("-- EXPLAIN ANALYZE of Q3")
			return runScript(ctx, newEmbedded(db), "EXPLAIN ANALYZE "+q3, "table", os.Stdout, false)
		},
	}
	c.Flags().Float64Var(&sf, "sf", 0.01, "scale factor of the generated data")
	return c
}
