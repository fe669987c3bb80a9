// Reads a history JSON file (the Temporal CLI's format) with the protobufjs copy that
// @temporalio/proto itself was built with. @temporalio/common's historyFromJSON cannot be
// used in this install: npm put two copies of protobufjs 8 under @temporalio/common and
// @temporalio/proto, and the one's protojson rejects the other's types ("type must be a Type").
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

type ProtoJson = { fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { fromJson } = require(require.resolve('protobufjs/ext/protojson', { paths: [path.dirname(require.resolve('@temporalio/proto'))] })) as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyFromCliJson(json: unknown): proto.temporal.api.history.v1.History {
  // Unknown fields (a newer server's) are ignored, as the SDK's own reader does.
  return fromJson(historyType, json, { ignoreUnknownFields: true }) as proto.temporal.api.history.v1.History;
}
