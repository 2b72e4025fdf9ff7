-- The production record's tables at commit 75df531 (before Alembic migrations), as SQLModel.metadata.create_all
-- made them on postgresql (generated from that commit's record/models.py). tests/test_record_schema.py builds a record
-- from it and upgrades it.

CREATE TABLE orders (
	id SERIAL NOT NULL,
	client VARCHAR(120) NOT NULL,
	shoot VARCHAR(20) NOT NULL,
	preset VARCHAR(80) NOT NULL,
	preset_version INTEGER,
	preset_hash VARCHAR(64),
	preset_json VARCHAR,
	due DATE,
	rush BOOLEAN NOT NULL,
	card_folder VARCHAR(1024) NOT NULL,
	status VARCHAR(20) NOT NULL,
	delivery_path VARCHAR(1024),
	flow_run_id VARCHAR(36),
	revisions INTEGER NOT NULL,
	chart_photo VARCHAR(1024),
	calibration_json VARCHAR,
	waiting_on VARCHAR(80),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_orders_client ON orders (client);

CREATE TABLE people (
	id SERIAL NOT NULL,
	name VARCHAR(40) NOT NULL,
	display_name VARCHAR(80) NOT NULL,
	role VARCHAR(20) NOT NULL,
	skills VARCHAR(800) NOT NULL,
	password_hash VARCHAR(300),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_people_name ON people (name);

CREATE TABLE photos (
	id SERIAL NOT NULL,
	order_id INTEGER NOT NULL,
	source_name VARCHAR(1024) NOT NULL,
	original_path VARCHAR(1024),
	sha256 VARCHAR(64) NOT NULL,
	size_bytes INTEGER NOT NULL,
	kind VARCHAR(8),
	status VARCHAR(20) NOT NULL,
	reason VARCHAR(1000),
	duplicate_of INTEGER,
	width INTEGER,
	height INTEGER,
	orientation INTEGER,
	camera_make VARCHAR(80),
	camera_model VARCHAR(80),
	lens VARCHAR(120),
	capture_time TIMESTAMP WITHOUT TIME ZONE,
	iso FLOAT,
	exposure_time FLOAT,
	f_number FLOAT,
	focal_length FLOAT,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_photo_source UNIQUE (order_id, source_name),
	FOREIGN KEY(order_id) REFERENCES orders (id),
	FOREIGN KEY(duplicate_of) REFERENCES photos (id)
);

CREATE INDEX ix_photos_order_id ON photos (order_id);

CREATE INDEX ix_photos_sha256 ON photos (sha256);

CREATE TABLE work_items (
	id SERIAL NOT NULL,
	order_id INTEGER NOT NULL,
	photo_id INTEGER NOT NULL,
	stage VARCHAR(40) NOT NULL,
	round INTEGER NOT NULL,
	status VARCHAR(20) NOT NULL,
	claimed_by VARCHAR(80),
	lease_expires_at TIMESTAMP WITH TIME ZONE,
	attempt INTEGER NOT NULL,
	input_path VARCHAR(1024),
	output_path VARCHAR(1024),
	output_sha256 VARCHAR(64),
	queue_rank VARCHAR(16),
	reason VARCHAR(1000),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_item_photo_stage_round UNIQUE (photo_id, stage, round),
	FOREIGN KEY(order_id) REFERENCES orders (id),
	FOREIGN KEY(photo_id) REFERENCES photos (id)
);

CREATE INDEX ix_items_queue ON work_items (stage, status);

CREATE INDEX ix_items_queue_pick ON work_items (status, queue_rank, created_at, id, stage);

CREATE INDEX ix_work_items_order_id ON work_items (order_id);

CREATE INDEX ix_work_items_photo_id ON work_items (photo_id);

CREATE TABLE stage_events (
	id SERIAL NOT NULL,
	order_id INTEGER NOT NULL,
	photo_id INTEGER,
	work_item_id INTEGER,
	stage VARCHAR(40) NOT NULL,
	round INTEGER NOT NULL,
	kind VARCHAR(20) NOT NULL,
	actor VARCHAR(80) NOT NULL,
	reason VARCHAR(1000),
	blamed_stage VARCHAR(40),
	seconds FLOAT,
	at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(order_id) REFERENCES orders (id),
	FOREIGN KEY(photo_id) REFERENCES photos (id),
	FOREIGN KEY(work_item_id) REFERENCES work_items (id)
);

CREATE INDEX ix_stage_events_at ON stage_events (at);

CREATE INDEX ix_stage_events_order_id ON stage_events (order_id);

CREATE INDEX ix_stage_events_photo_id ON stage_events (photo_id);

CREATE INDEX ix_stage_events_stage ON stage_events (stage);
