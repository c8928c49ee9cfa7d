package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/subscribers"
)

func (a *App) subscribersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "subscribers", Short: "Manage subscribers"}
	cmd.AddCommand(a.subscribersAddCommand())
	return cmd
}

func (a *App) subscribersAddCommand() *cobra.Command {
	var name string
	var lists []string
	cmd := &cobra.Command{
		Use:   "add EMAIL [--name N] [--list L ...]",
		Short: "Add a subscriber to one or more lists (default: daily)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := subscribers.NormalizeAddress(args[0]); err != nil {
				return usageError{err}
			}
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			sub, err := s.Add(a.ctx, args[0], name, lists...)
			if err != nil {
				return err
			}
			a.printf("subscriber %s added to %s\n", sub.Email, strings.Join(lists, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringArrayVar(&lists, "list", []string{subscribers.DefaultList}, "list to join (repeatable)")
	return cmd
}
