package examples

// unigo build links golang.org/x/crypto/x509roots/fallback (CA roots) into
// every program unless -nocerts; importing it here keeps it in this
// module's go.mod and go.sum, for the examples.
import _ "golang.org/x/crypto/x509roots/fallback"
