//! Which thread exports the run's span: earlyexit's own, or one of the SDK's.
//!
//! A local sink (the database, a JSON Lines file, the console) takes a tenth of a
//! millisecond, and handing the span to another thread and waiting for it to say it is done
//! wakes a core that has gone idle while the command ran: with SQLite, a run of `sleep 0.01`
//! took 0.47 ms longer than without telemetry exporting here, 0.72 ms on the batch thread
//! (benches/README.md, "Back to the floor"). So the span goes to the local sinks on the thread
//! that ends it, and the database is opened there too, as the provider is made once the
//! command has started. A remote sink must never hold the run up and may be cut short by a
//! signal, so it gets the SDK's batch thread and `finish` waits for it.

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SimpleSpanProcessor, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::export::Fanout;

/// Spans the batch processor holds; a run makes one.
const SPAN_QUEUE: usize = 8;

#[derive(Debug)]
pub enum RunProcessor {
    /// Every sink is local: exported on the thread that ends the span.
    Here(SimpleSpanProcessor<Fanout>),
    /// A sink sends over the network: exported on the SDK's thread.
    Batch(BatchSpanProcessor),
}

impl RunProcessor {
    /// The batch thread is handed the resource now, so that it opens the database (where a
    /// remote sink keeps its outbox) while the command starts. Here, the provider hands it
    /// over once the command has started, and the open overlaps with the command's run:
    /// opened on a thread of its own from before the start instead, a run of `true` took as
    /// long and one of `sleep 0.01` 0.1 ms longer (benches/README.md).
    pub fn new(
        fanout: Fanout,
        remote: bool,
        flush_interval: Duration,
        resource: &Resource,
    ) -> RunProcessor {
        if !remote {
            return RunProcessor::Here(SimpleSpanProcessor::new(fanout));
        }
        let mut processor = BatchSpanProcessor::builder(fanout)
            .with_batch_config(
                // A run makes one span. The default queue of 2048 spans is allocated and
                // touched up front: a third of a millisecond for nothing. A batch of one
                // starts the export the moment the span ends, not when `finish` asks.
                BatchConfigBuilder::default()
                    .with_max_queue_size(SPAN_QUEUE)
                    .with_max_export_batch_size(1)
                    .with_scheduled_delay(flush_interval)
                    .build(),
            )
            .build();
        processor.set_resource(resource);
        RunProcessor::Batch(processor)
    }

    fn inner(&self) -> &dyn SpanProcessor {
        match self {
            RunProcessor::Here(processor) => processor,
            RunProcessor::Batch(processor) => processor,
        }
    }
}

impl SpanProcessor for RunProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner().on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.inner().on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner().force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner().shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            RunProcessor::Here(processor) => processor.set_resource(resource),
            RunProcessor::Batch(processor) => processor.set_resource(resource),
        }
    }
}
