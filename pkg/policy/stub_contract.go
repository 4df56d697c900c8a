package policy

// documentImpl is the implementer's storage; replace freely.
type documentImpl struct{ raw []byte }

// Parse parses an IAM or KMS policy document. Errors say where and what ("Statement[2].Effect: ...").
func Parse(data []byte) (*Document, error) { return nil, errUnimplemented }

// DecodeIAM decodes a URL-encoded document as IAM returns it (path unescaping: '+' stays '+').
func DecodeIAM(s string) (string, error) { return s, errUnimplemented }

// Bytes returns the document's JSON; byte-identical to the input of Parse when nothing was edited.
func (d *Document) Bytes() []byte { return d.impl.raw }

// Statements returns the typed views in document order.
func (d *Document) Statements() []Statement { return nil }

// Version returns the top-level "Version" value, "" when absent.
func (d *Document) Version() string { return "" }

type unimplemented struct{}

func (unimplemented) Error() string { return "unimplemented" }

var errUnimplemented error = unimplemented{}
