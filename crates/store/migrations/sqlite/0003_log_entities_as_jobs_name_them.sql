-- allybridge store, schema v3: the integration log names a record's entity
-- the way jobs and links do, `{tenant}/{entity}` with the entity `coupon`,
-- `product` or `order`, where earlier versions wrote the flow
-- (`{tenant}/coupons_to_accessally`). The entries written before are
-- renamed to match; the direction stays in from_system and to_system.
UPDATE integration_log
SET entity_type = substr(entity_type, 1, length(entity_type) - length('coupons_to_accessally')) || 'coupon'
WHERE entity_type LIKE '%/coupons!_to!_accessally' ESCAPE '!';

UPDATE integration_log
SET entity_type = substr(entity_type, 1, length(entity_type) - length('products_to_accessally')) || 'product'
WHERE entity_type LIKE '%/products!_to!_accessally' ESCAPE '!';

UPDATE integration_log
SET entity_type = substr(entity_type, 1, length(entity_type) - length('products_to_highlevel')) || 'product'
WHERE entity_type LIKE '%/products!_to!_highlevel' ESCAPE '!';

UPDATE integration_log
SET entity_type = substr(entity_type, 1, length(entity_type) - length('orders_to_highlevel')) || 'order'
WHERE entity_type LIKE '%/orders!_to!_highlevel' ESCAPE '!';

UPDATE integration_log
SET entity_type = substr(entity_type, 1, length(entity_type) - length('orders_to_accessally')) || 'order'
WHERE entity_type LIKE '%/orders!_to!_accessally' ESCAPE '!';
