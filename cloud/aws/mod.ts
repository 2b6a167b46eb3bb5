/**
 * The AWS adapters: S3 blob store (streamed multipart uploads), SQS message queue, EC2 fleet.
 * Region defaults to us-east-1; credentials come from the SDK's default chain; endpoints are
 * configurable (emulators, VPC endpoints). SDK errors are mapped to `cloud/errors.ts`.
 * @module
 */
export { type AwsClientOptions, clientConfig, errorName, REGION_DEFAULT } from "./_aws_common.ts";
export { PART_BYTES_MIN, S3BlobStore, type S3BlobStoreOptions } from "./s3_blob_store.ts";
export {
  sqsClientConfig,
  SqsMessageQueue,
  type SqsMessageQueueOptions,
} from "./sqs_message_queue.ts";
export { Ec2Fleet, type Ec2FleetOptions, FLEET_TAG, type LaunchTemplate } from "./ec2_fleet.ts";
