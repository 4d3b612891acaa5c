"""CRM connectors: HubSpot and Salesforce, translated into `storage.crm_records`."""
