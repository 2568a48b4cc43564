package sdk_test

import (
	"fmt"
	"testing"

	"github.com/evented/evented/sdk"
)

func TestRootKeepsUUIDsAndMapsNames(t *testing.T) {
	const id = "2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f"
	if got := sdk.Root(id).String(); got != id {
		t.Errorf("Root(%q) = %s", id, got)
	}
	if a, b := sdk.Root("cust-001"), sdk.Root("cust-001"); a != b || a == sdk.Root("cust-002") {
		t.Error("names must map to distinct, stable roots")
	}
	if v := sdk.Root("cust-001").Version(); v != 5 {
		t.Errorf("version %d, want 5 (name-based, SHA-1)", v)
	}
}

func ExampleRoot() {
	// Python gives the same: uuid.uuid5(uuid.NAMESPACE_URL, "evented:cust-001")
	fmt.Println(sdk.Root("cust-001"))
	// Output: bee85a38-babe-5251-8d7d-f8a8ed93ed9c
}
