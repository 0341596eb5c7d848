//! Service-level checks: full gRPC method paths, default `Unimplemented` stubs, and an in-process
//! client ↔ server round trip through the generated code (no network).

use std::time::Duration;

use tonic::codegen::http;
use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status};

use tfplugin_proto::plugin::{
    grpc_broker_server, grpc_controller_server, grpc_stdio_server, ConnInfo, Empty, StdioData,
};
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tfplugin_proto::tfplugin6::provider_server::{self, Provider, ProviderServer};
use tfplugin_proto::tfplugin6::{get_provider_schema, list_resource, Schema};
use tfplugin_proto::{BoxStream, PROTOCOL_VERSION};

/// Marker status code the test servers answer with, to prove a request reached them.
const MARKER: Code = Code::AlreadyExists;

/// Implements two RPCs; everything else keeps the generated `Unimplemented` default.
struct TestProvider;

#[tonic::async_trait]
impl Provider for TestProvider {
    async fn get_provider_schema(
        &self,
        _request: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        Ok(Response::new(get_provider_schema::Response {
            provider: Some(Schema {
                version: 7,
                block: None,
            }),
            ..Default::default()
        }))
    }

    async fn list_resource(
        &self,
        request: Request<list_resource::Request>,
    ) -> Result<Response<BoxStream<list_resource::Event>>, Status> {
        let limit = request.into_inner().limit;
        let events = (0..limit).map(|i| {
            Ok(list_resource::Event {
                display_name: format!("item-{i}"),
                ..Default::default()
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn stop_provider(
        &self,
        _request: Request<tfplugin_proto::tfplugin6::stop_provider::Request>,
    ) -> Result<Response<tfplugin_proto::tfplugin6::stop_provider::Response>, Status> {
        Err(Status::new(MARKER, "stop reached"))
    }
}

struct TestController;

#[tonic::async_trait]
impl grpc_controller_server::GrpcController for TestController {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Err(Status::new(MARKER, "shutdown reached"))
    }
}

struct TestStdio;

#[tonic::async_trait]
impl grpc_stdio_server::GrpcStdio for TestStdio {
    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<BoxStream<StdioData>>, Status> {
        Err(Status::new(MARKER, "stdio reached"))
    }
}

struct TestBroker;

#[tonic::async_trait]
impl grpc_broker_server::GrpcBroker for TestBroker {
    async fn start_stream(
        &self,
        _request: Request<tonic::Streaming<ConnInfo>>,
    ) -> Result<Response<BoxStream<ConnInfo>>, Status> {
        Err(Status::new(MARKER, "broker reached"))
    }
}

#[test]
fn service_names() {
    assert_eq!(provider_server::SERVICE_NAME, "tfplugin6.Provider");
    assert_eq!(
        <ProviderServer<TestProvider> as NamedService>::NAME,
        "tfplugin6.Provider"
    );
    assert_eq!(
        grpc_controller_server::SERVICE_NAME,
        "plugin.GRPCController"
    );
    assert_eq!(
        <grpc_controller_server::GrpcControllerServer<TestController> as NamedService>::NAME,
        "plugin.GRPCController"
    );
    assert_eq!(grpc_stdio_server::SERVICE_NAME, "plugin.GRPCStdio");
    assert_eq!(
        <grpc_stdio_server::GrpcStdioServer<TestStdio> as NamedService>::NAME,
        "plugin.GRPCStdio"
    );
    assert_eq!(grpc_broker_server::SERVICE_NAME, "plugin.GRPCBroker");
    assert_eq!(
        <grpc_broker_server::GrpcBrokerServer<TestBroker> as NamedService>::NAME,
        "plugin.GRPCBroker"
    );
    assert_eq!(PROTOCOL_VERSION, (6, 10));
}

/// A gRPC request for `path` carrying one empty message (flag byte + zero length).
fn grpc_request(path: &str) -> http::Request<tonic::body::Body> {
    http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .body(tonic::body::Body::new(String::from("\0\0\0\0\0")))
        .expect("valid request")
}

/// The `grpc-status` a server answers `path` with, as a trailers-only response.
async fn grpc_status<S>(service: &mut S, path: &str) -> Option<String>
where
    S: Service<
        http::Request<tonic::body::Body>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
    >,
{
    let response = match service.call(grpc_request(path)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn full_method_paths_route_to_the_implementations() {
    let marker = Some((MARKER as i32).to_string());
    let unimplemented = Some((Code::Unimplemented as i32).to_string());

    let mut provider = ProviderServer::new(TestProvider);
    assert_eq!(
        grpc_status(&mut provider, "/tfplugin6.Provider/StopProvider").await,
        marker
    );
    // A default stub and an unknown method both answer Unimplemented.
    assert_eq!(
        grpc_status(&mut provider, "/tfplugin6.Provider/ConfigureProvider").await,
        unimplemented
    );
    assert_eq!(
        grpc_status(&mut provider, "/tfplugin6.Provider/NoSuchRpc").await,
        unimplemented
    );

    let mut controller = grpc_controller_server::GrpcControllerServer::new(TestController);
    assert_eq!(
        grpc_status(&mut controller, "/plugin.GRPCController/Shutdown").await,
        marker
    );

    let mut stdio = grpc_stdio_server::GrpcStdioServer::new(TestStdio);
    assert_eq!(
        grpc_status(&mut stdio, "/plugin.GRPCStdio/StreamStdio").await,
        marker
    );

    let mut broker = grpc_broker_server::GrpcBrokerServer::new(TestBroker);
    assert_eq!(
        grpc_status(&mut broker, "/plugin.GRPCBroker/StartStream").await,
        marker
    );
}

#[tokio::test]
async fn client_and_server_round_trip_in_process() {
    let mut client = ProviderClient::new(ProviderServer::new(TestProvider));

    let schema = client
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .expect("schema")
        .into_inner();
    assert_eq!(schema.provider.map(|s| s.version), Some(7));

    let status = client
        .configure_provider(tfplugin_proto::tfplugin6::configure_provider::Request::default())
        .await
        .expect_err("default stub");
    assert_eq!(status.code(), Code::Unimplemented);

    let mut events = client
        .list_resource(list_resource::Request {
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    let mut names = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("stream makes progress")
    {
        names.push(event.expect("event").display_name);
    }
    assert_eq!(names, ["item-0", "item-1"]);
}
