module github.com/arca-kms/arca

go 1.26

// aws-sdk-go-v2 is pinned to core v1.47.7 (service/kms v1.62.4, config v1.33.15,
// credentials v1.20.15): the module proxy here refuses core v1.47.8, which the
// newest service releases require. Upgrade together once the proxy serves it.

require (
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	go.etcd.io/bbolt v1.4.3
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
