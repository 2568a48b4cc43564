package sdk

import "github.com/google/uuid"

// Root returns the aggregate root a name stands for. A name that is a UUID
// ("2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f", with or without braces or the
// urn:uuid: prefix) is that UUID; any other string ("cust-001") maps to the
// name-based UUID (version 5, SHA-1) of "evented:" + name in the URL
// namespace, the same in every language:
//
//	Go:     uuid.NewSHA1(uuid.NameSpaceURL, []byte("evented:"+name))
//	Python: uuid.uuid5(uuid.NAMESPACE_URL, "evented:" + name)
//	Rust:   Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("evented:{name}").as_bytes())
//
// The mapping does not depend on the domain, so "cust-001" is the same root
// wherever it is referred to (for example as a transaction's customer_id).
func Root(name string) uuid.UUID {
	if u, err := uuid.Parse(name); err == nil {
		return u
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("evented:"+name))
}
