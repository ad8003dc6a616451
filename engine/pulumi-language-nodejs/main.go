// pulumi-language-nodejs: the Node.js language host the Pulumi engine launches to run a program or a
// policy pack. Pulumi's own host lives in an untagged nested Go module that the module proxy here does
// not serve, so this one speaks the same LanguageRuntime gRPC protocol (from the published sdk/v3
// module) and hands the program to the real Node runtime in @pulumi/pulumi (cmd/run, cmd/run-policy-pack),
// passing the same flags and environment variables as Pulumi's host.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// The Node runtime exits with this code after it has already reported the error to the engine.
const exitAfterReportedError = 32

func main() {
	flag.String("tracing", "", "ignored: tracing endpoint")
	flag.String("root", "", "ignored: project root")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-nodejs [flags] ENGINE_ADDRESS")
		os.Exit(2)
	}
	host := &nodeHost{engineAddress: flag.Arg(flag.NArg() - 1)}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	exitWithEngine()
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

// exitWithEngine ends this host when the engine that started it is gone (a SIGKILLed `pulumi up`
// cannot stop its plugins): the parent process changes when the engine dies. The programs this host
// runs die with it (Pdeathsig below), so nothing of ours outlives the engine.
func exitWithEngine() {
	parent := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				os.Exit(1)
			}
		}
	}()
}

// nodeProcess makes a Node child die with this host.
func nodeProcess(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func (h *nodeHost) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// Plugins are resolved on demand by the engine when a resource first names its provider.
func (h *nodeHost) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *nodeHost) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *nodeHost) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *nodeHost) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("node --version: %w", err)
	}
	return &pulumirpc.AboutResponse{Executable: "node", Version: strings.TrimSpace(string(out))}, nil
}

// Dependencies are installed by `npm ci` in the project's own setup, never by the engine.
func (h *nodeHost) InstallDependencies(*pulumirpc.InstallDependenciesRequest,
	grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	return nil
}

func (h *nodeHost) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	runner, err := findSdkCommand(programDir, "run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	// A stack without config sends nil; the Node runtime expects an object and an array.
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeyList := req.GetConfigSecretKeys()
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}

	args := []string{runner,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--organization", req.GetOrganization(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", programDir,
		"--root-directory", info.GetRootDirectory(),
		"--parallel", fmt.Sprint(req.GetParallel()),
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(append(args, entry), req.GetArgs()...)

	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	env = append(env, typescriptEnv(info.GetOptions(), info.GetRootDirectory())...)

	cmd := nodeProcess(exec.CommandContext(ctx, "node", args...))
	cmd.Dir = programDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	code, err := runToExit(cmd)
	switch {
	case err != nil:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("failed to run node: %v", err)}, nil
	case code == exitAfterReportedError:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case code != 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin starts a policy pack (kind "analyzer") or a Node plugin and streams its output to the engine,
// which reads the plugin's gRPC port from the first line of stdout.
func (h *nodeHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetProgram()
	}
	command := "run-plugin"
	args := append([]string{}, req.GetArgs()...)
	if req.GetKind() == "analyzer" {
		command = "run-policy-pack"
		args = append(args, ".")
	} else {
		args = append([]string{"--pwd", dir}, append(args, ".")...)
	}
	runner, err := findSdkCommand(dir, command)
	if err != nil {
		return err
	}
	cmd := nodeProcess(exec.CommandContext(server.Context(), "node", append([]string{runner}, args...)...))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), req.GetEnv()...)
	cmd.Env = append(cmd.Env, typescriptEnv(req.GetInfo().GetOptions(), req.GetInfo().GetRootDirectory())...)
	var mu sync.Mutex
	cmd.Stdout = streamWriter(server, &mu, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	cmd.Stderr = streamWriter(server, &mu, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	code, err := runToExit(cmd)
	if err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

func (h *nodeHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// findSdkCommand resolves @pulumi/pulumi/cmd/<name> the way Node would from dir: in the nearest
// node_modules walking up to the filesystem root.
func findSdkCommand(dir, name string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "node_modules", "@pulumi", "pulumi", "cmd", name)
		if _, err := os.Stat(filepath.Join(candidate, "index.js")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("it looks like the Pulumi SDK has not been installed: no node_modules/@pulumi/pulumi "+
		"above %s; run `npm ci`", abs)
}

// typescriptEnv maps the project's runtime options (Pulumi.yaml runtime.options) to the variables the
// Node runtime reads. TypeScript is on unless the project turns it off, as with Pulumi's host; a
// relative tsconfig path is relative to the project root (where Pulumi.yaml is).
func typescriptEnv(options *structpb.Struct, rootDir string) []string {
	opts := options.AsMap()
	env := []string{}
	if ts, ok := opts["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if p, ok := opts["tsconfig"].(string); ok && p != "" {
		if !filepath.IsAbs(p) && rootDir != "" {
			p = filepath.Join(rootDir, p)
		}
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+p)
	}
	if nodeargs, ok := opts["nodeargs"].(string); ok && nodeargs != "" {
		env = append(env, "NODE_OPTIONS="+nodeargs)
	}
	return env
}

func runToExit(cmd *exec.Cmd) (int, error) {
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return 128 + int(status.Signal()), nil
		}
		return exitErr.ExitCode(), nil
	}
	return 0, err
}

type sendFunc func([]byte) *pulumirpc.RunPluginResponse

// streamer forwards one of the plugin's output streams; stdout and stderr share the gRPC stream,
// whose Send must not be called concurrently.
type streamer struct {
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	mu     *sync.Mutex
	wrap   sendFunc
}

func (s streamer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.server.Send(s.wrap(append([]byte(nil), p...))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func streamWriter(server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse], mu *sync.Mutex, wrap sendFunc,
) io.Writer {
	return streamer{server: server, mu: mu, wrap: wrap}
}
