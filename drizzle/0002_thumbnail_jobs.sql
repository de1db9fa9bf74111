CREATE TABLE "thumbnail_jobs" (
	"image_id" uuid PRIMARY KEY NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"run_after" timestamp with time zone DEFAULT now() NOT NULL,
	"locked_by" text,
	"locked_until" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "thumbnail_sha256" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "thumbnail_error" text;--> statement-breakpoint
ALTER TABLE "thumbnail_jobs" ADD CONSTRAINT "thumbnail_jobs_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "thumbnail_jobs_due_idx" ON "thumbnail_jobs" USING btree ("run_after") WHERE "thumbnail_jobs"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "thumbnail_jobs_leased_idx" ON "thumbnail_jobs" USING btree ("locked_until") WHERE "thumbnail_jobs"."state" = 'running';--> statement-breakpoint
CREATE INDEX "thumbnail_jobs_state_idx" ON "thumbnail_jobs" USING btree ("state");--> statement-breakpoint
-- Images uploaded before thumbnails existed get their job too.
INSERT INTO "thumbnail_jobs" ("image_id") SELECT "id" FROM "images" WHERE "thumbnail_key" IS NULL ON CONFLICT DO NOTHING;
