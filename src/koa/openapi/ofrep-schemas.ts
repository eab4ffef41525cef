/** OFREP's wire shapes (open-feature/protocol `service/openapi.yaml`, v0.1.0) as TypeBox schemas. */
import { Type } from '@sinclair/typebox'

const Metadata = Type.Record(Type.String(), Type.Union([Type.Boolean(), Type.String(), Type.Number()]))

export const OfrepEvaluationRequestSchema = Type.Object(
  { context: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'flat OpenFeature context' })) },
  { $id: 'OfrepEvaluationRequest' },
)
export const OfrepEvaluationSuccessSchema = Type.Object(
  {
    key: Type.String(),
    value: Type.Unknown({ description: "the flag's value (boolean, string, number or object)" }),
    reason: Type.String({ examples: ['STATIC', 'TARGETING_MATCH', 'SPLIT', 'DISABLED', 'DEFAULT', 'STALE'] }),
    variant: Type.Optional(Type.String()),
    metadata: Type.Optional(Metadata),
  },
  { $id: 'OfrepEvaluationSuccess' },
)
export const OfrepEvaluationFailureSchema = Type.Object(
  {
    key: Type.String(),
    errorCode: Type.Union(
      ['PARSE_ERROR', 'TARGETING_KEY_MISSING', 'INVALID_CONTEXT', 'GENERAL', 'FLAG_NOT_FOUND'].map((c) => Type.Literal(c)),
    ),
    errorDetails: Type.Optional(Type.String()),
  },
  { $id: 'OfrepEvaluationFailure' },
)
export const OfrepBulkSuccessSchema = Type.Object(
  { flags: Type.Array(Type.Union([Type.Ref('OfrepEvaluationSuccess'), Type.Ref('OfrepEvaluationFailure')])) },
  { $id: 'OfrepBulkSuccess' },
)
export const OfrepBulkFailureSchema = Type.Object(
  { errorCode: Type.String(), errorDetails: Type.Optional(Type.String()) },
  { $id: 'OfrepBulkFailure' },
)
export const OfrepGeneralErrorSchema = Type.Object({ errorDetails: Type.Optional(Type.String()) }, { $id: 'OfrepGeneralError' })

export const OFREP_SCHEMAS = [
  OfrepEvaluationRequestSchema,
  OfrepEvaluationSuccessSchema,
  OfrepEvaluationFailureSchema,
  OfrepBulkSuccessSchema,
  OfrepBulkFailureSchema,
  OfrepGeneralErrorSchema,
]
