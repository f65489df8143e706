//! The ids of a run's span, chosen before the span exists: the command's `TRACEPARENT` and the
//! live records name them while the SDK has not made the span yet.

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// The run's span context, chosen before the span exists. The SDK asks its id generator for
/// them as it makes the span (for a trace id only when there is no parent).
#[derive(Debug, Clone, Copy)]
pub struct RunIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl RunIds {
    pub fn choose(parent: &opentelemetry::Context) -> RunIds {
        let random = RandomIdGenerator::default();
        let parent = parent.span();
        let parent = parent.span_context();
        RunIds {
            trace_id: if parent.is_valid() {
                parent.trace_id()
            } else {
                random.new_trace_id()
            },
            span_id: random.new_span_id(),
        }
    }
}

impl IdGenerator for RunIds {
    fn new_trace_id(&self) -> TraceId {
        self.trace_id
    }

    fn new_span_id(&self) -> SpanId {
        self.span_id
    }
}
