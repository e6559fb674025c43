package e2e

import (
	"io"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// TestHTTPHealth checks the plain HTTP probes.
func TestHTTPHealth(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/healthz", "/readyz"} {
		t.Run(path, func(t *testing.T) {
			res, err := http1Client(t).Get(srv.baseURL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %s, want 200", path, res.Status)
			}
		})
	}
}

// TestGRPCHealth asks grpc.health.v1 through grpc-go, as orchestrators do.
func TestGRPCHealth(t *testing.T) {
	t.Parallel()
	client := grpc_health_v1.NewHealthClient(grpcConn(t))
	for _, service := range []string{"", catalogv1connect.CatalogServiceName} {
		res, err := client.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if res.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", service, res.GetStatus())
		}
	}
}

// TestGRPCReflection lists the services through both reflection versions
// (grpcurl uses either) and resolves the catalog's descriptor.
func TestGRPCReflection(t *testing.T) {
	t.Parallel()
	conn := grpcConn(t)

	t.Run("v1", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = stream.CloseSend() }()
		if err := stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range res.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		if !slices.Contains(names, catalogv1connect.CatalogServiceName) {
			t.Errorf("services %v, want %s among them", names, catalogv1connect.CatalogServiceName)
		}

		if err := stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: catalogv1connect.CatalogServiceName},
		}); err != nil {
			t.Fatal(err)
		}
		res, err = stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var methods []string
		for _, raw := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
			var fd descriptorpb.FileDescriptorProto
			if err := proto.Unmarshal(raw, &fd); err != nil {
				t.Fatal(err)
			}
			for _, s := range fd.GetService() {
				if fd.GetPackage()+"."+s.GetName() == catalogv1connect.CatalogServiceName {
					for _, m := range s.GetMethod() {
						methods = append(methods, m.GetName())
					}
				}
			}
		}
		if want := catalogv1.File_bookworm_catalog_v1_catalog_proto.Services().ByName("CatalogService").Methods().Len(); len(methods) != want {
			t.Errorf("reflection shows %d methods of the catalog, want %d: %v", len(methods), want, methods)
		}
	})

	t.Run("v1alpha", func(t *testing.T) {
		stream, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = stream.CloseSend() }()
		if err := stream.Send(&reflectionv1alpha.ServerReflectionRequest{
			MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range res.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		if !slices.Contains(names, catalogv1connect.CatalogServiceName) {
			t.Errorf("services %v, want %s among them", names, catalogv1connect.CatalogServiceName)
		}
	})
}
