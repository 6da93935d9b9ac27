package main

import "github.com/spf13/cobra"

// sltCmd is a placeholder until the sqllogictest runner lands.
func sltCmd() *cobra.Command { return &cobra.Command{Use: "slt", Hidden: true} }
