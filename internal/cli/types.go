package cli

import (
	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/protoview"
)

// The registry and the JSON views live in protoview, shared with the
// console; these names keep the CLI's code short.
type (
	registry  = protoview.Registry
	payload   = protoview.Payload
	eventView = protoview.Event
	bookView  = protoview.Book
	replyView = protoview.Reply
)

var (
	loadRegistry = protoview.Load
	newCauseView = protoview.NewCause
	rootText     = protoview.RootText
	timeText     = protoview.TimeText
)

// descriptorHelp says how to make evented know a type.
const descriptorHelp = protoview.DescriptorHelp

// addDescriptorFlag registers --descriptor-set on cmd.
func addDescriptorFlag(cmd *cobra.Command, paths *[]string) {
	cmd.Flags().StringSliceVar(paths, "descriptor-set", nil,
		"FileDescriptorSet file with your message types (buf build -o FILE; protoc --include_imports --descriptor_set_out=FILE); repeatable")
	cmd.MarkFlagFilename("descriptor-set", "binpb", "pb", "desc", "protoset", "bin")
}
