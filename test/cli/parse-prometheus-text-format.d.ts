/** The package ships no types: what the serve test uses of it. */
declare module 'parse-prometheus-text-format' {
  interface MetricFamily {
    name: string
    help: string
    type: string
    metrics: Array<{
      labels?: Record<string, string>
      value?: string
      buckets?: Record<string, string>
      count?: string
      sum?: string
    }>
  }
  export default function parsePrometheusTextFormat(text: string): MetricFamily[]
}
