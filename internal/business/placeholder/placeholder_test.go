package placeholder

import "testing"

func TestEventType(t *testing.T) {
	for in, want := range map[string]string{
		"type.googleapis.com/examples.CreateCustomer":   "type.googleapis.com/examples.CustomerCreated",
		"type.googleapis.com/examples.AddLoyaltyPoints": "type.googleapis.com/examples.LoyaltyPointsAdded",
		"CreateX":           "XCreated",
		"AddItem":           "ItemAdded",
		"CancelTransaction": "TransactionCancelled",
		"Ship":              "ShipProcessed",
		"Addendum":          "AddendumProcessed",
		"Create":            "CreateProcessed",
		"type.googleapis.com/shop.v1.RedeemVoucher": "type.googleapis.com/shop.v1.VoucherRedeemed",
		"": "Processed",
	} {
		if got := EventType(in); got != want {
			t.Errorf("EventType(%q) = %q, want %q", in, got, want)
		}
	}
}
